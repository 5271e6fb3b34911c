package testenv

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"golang.org/x/sys/unix"
)

// NewNS creates a named network namespace that is removed when the test
// ends; a namespace that cannot be removed fails the test that made it, so
// a leak names its test instead of turning up later in `ip netns list`.
func NewNS(t testing.TB) ns.NetNS {
	t.Helper()
	netns, err := testutils.NewNS()
	if err != nil {
		t.Fatalf("create netns: %v", err)
	}
	t.Cleanup(func() {
		if err := removeNS(netns); err != nil {
			t.Errorf("netns left behind: %v", err)
		}
	})
	return netns
}

// RemoveNS closes and unmounts a namespace made by NewNS; it is safe to call
// twice, so a test can remove a netns early to prove DEL copes without it.
func RemoveNS(netns ns.NetNS) { _ = removeNS(netns) }

// removeNS is RemoveNS that says whether the mount point is gone. A busy
// unmount or unlink (another process entering the namespace at that
// moment) is retried for a second before it counts as a leak.
func removeNS(netns ns.NetNS) error {
	_ = netns.Close()
	path := netns.Path()
	var err error
	for try := 0; try < 10; try++ {
		if err = unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			err = fmt.Errorf("unmount %s: %w", path, err)
		} else if err = os.Remove(path); err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

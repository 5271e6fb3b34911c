package testenv

import (
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
)

// NewNS creates a named network namespace that is removed when the test ends.
func NewNS(t testing.TB) ns.NetNS {
	t.Helper()
	netns, err := testutils.NewNS()
	if err != nil {
		t.Fatalf("create netns: %v", err)
	}
	t.Cleanup(func() { RemoveNS(netns) })
	return netns
}

// RemoveNS closes and unmounts a namespace made by NewNS; it is safe to call
// twice, so a test can remove a netns early to prove DEL copes without it.
func RemoveNS(netns ns.NetNS) {
	_ = netns.Close()
	_ = testutils.UnmountNS(netns)
}

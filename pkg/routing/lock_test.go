package routing

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// TestLockIsPerNetnsAndExclusive: a second taker in the same netns waits
// until the deadline, one in another netns does not, and unlock frees it.
func TestLockIsPerNetnsAndExclusive(t *testing.T) {
	testenv.RequireRoot(t)
	nodeA, nodeB := testenv.NewNS(t), testenv.NewNS(t)
	take := func(node ns.NetNS, timeout time.Duration) (func(), error) {
		var unlock func()
		err := node.Do(func(ns.NetNS) error {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			var err error
			unlock, err = lockNetns(ctx, "eth0.host")
			return err
		})
		return unlock, err
	}
	unlockA, err := take(nodeA, time.Second)
	if err != nil {
		t.Fatalf("first lock: %v", err)
	}
	if _, err := take(nodeA, 50*time.Millisecond); !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("second lock in the same netns = %v, want ErrLockTimeout", err)
	}
	unlockB, err := take(nodeB, time.Second)
	if err != nil {
		t.Fatalf("lock in another netns: %v", err)
	}
	unlockB()
	unlockA()
	again, err := take(nodeA, time.Second)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	again()
}

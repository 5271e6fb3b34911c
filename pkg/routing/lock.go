package routing

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"syscall"
	"time"
)

// ErrLockTimeout means another host-route held the node's lock for the
// whole deadline; the runtime should try again later.
var ErrLockTimeout = errors.New("timed out waiting for the host-route lock")

// lockNetns serialises the callers that share a macvlan-bridge
// sub-interface. The lock is a bound abstract unix socket: abstract names are
// scoped to the network namespace, so each node has its own lock, and the
// kernel frees the name when the holder exits, so a killed plugin never
// leaves it held and nothing is left in the file system.
func lockNetns(ctx context.Context, name string) (unlock func(), err error) {
	addr := "@meta-cni/host-route/" + name
	for {
		l, err := net.Listen("unix", addr)
		if err == nil {
			return func() { _ = l.Close() }, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("take lock %s: %w", addr, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("take lock %s: %w", addr, ErrLockTimeout)
		case <-time.After(time.Duration(500+rand.IntN(1500)) * time.Microsecond):
		}
	}
}

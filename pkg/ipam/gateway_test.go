package ipam

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// hungEndpoint accepts connections and never answers, like a member whose
// process is stopped.
func hungEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return "http://" + l.Addr().String()
}

func refusedEndpoint(t *testing.T) string {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return "http://127.0.0.1:" + strconv.Itoa(port)
}

// A member that refuses connections or hangs costs at most one attempt's
// share of the timeout: the allocation goes through another member.
func TestAnUnreachableOrHungMemberIsSkipped(t *testing.T) {
	c := testenv.StartEtcdClusterRetry(t, 1, nil)
	sets := []*RangeSet{mustSet(t, nil, [4]string{"10.0.0.0/24", "", "", ""})}
	for name, first := range map[string]string{"refused": refusedEndpoint(t), "hung": hungEndpoint(t)} {
		t.Run(name, func(t *testing.T) {
			e, err := Connect(EtcdConfig{
				Endpoints:      []string{first, c.Endpoints()[0]},
				DialTimeout:    time.Second,
				RequestTimeout: 3 * time.Second,
				Prefix:         "/test/skip-" + name,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			s := NewStore(e, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
			ctx, cancel := context.WithTimeout(context.Background(), e.Config.RequestTimeout)
			defer cancel()
			start := time.Now()
			if _, err := s.Allocate(ctx, Request{Owner: owner("c1"), Sets: sets}); err != nil {
				t.Fatalf("allocate with %s first: %v", name, err)
			}
			if took := time.Since(start); took > 1500*time.Millisecond {
				t.Fatalf("allocate with a %s member first took %s", name, took)
			}
		})
	}
}

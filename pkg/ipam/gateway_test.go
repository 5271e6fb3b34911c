package ipam

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
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

// An endpoint that is not etcd's client URL is a config error, at once.
func TestAnEndpointWithoutTheGatewayIsAConfigError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	e, err := Connect(EtcdConfig{Endpoints: []string{srv.URL}, DialTimeout: time.Second, RequestTimeout: 3 * time.Second, Prefix: "/x", EndpointsField: "ipam.etcd.endpoints"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s := NewStore(e, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	start := time.Now()
	_, err = s.Allocate(context.Background(), Request{Owner: owner("c1"), Sets: []*RangeSet{mustSet(t, nil, [4]string{"10.0.0.0/24", "", "", ""})}})
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "ipam.etcd.endpoints" || !strings.Contains(ce.Msg, "JSON gateway") {
		t.Fatalf("allocate against a non-etcd endpoint: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("the config error took %s", took)
	}
}

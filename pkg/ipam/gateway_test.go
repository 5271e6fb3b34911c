package ipam

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
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

// slowEndpoint answers as the etcd member behind it does, but only after
// delay: a member of a saturated cluster.
func slowEndpoint(t *testing.T, member string, delay time.Duration) string {
	t.Helper()
	target, err := url.Parse(member)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Members that all answer more slowly than the wait before the next one is
// asked still serve the request: a slow member keeps its request while
// another is asked too, and a guarded write sent to both commits once.
// Cutting each attempt off at its share of the timeout instead (a third, as
// before) failed every request on a saturated cluster, as in issue 10's
// churn under load.
func TestSlowMembersAreNotAbandoned(t *testing.T) {
	c := testenv.StartEtcdClusterRetry(t, 1, nil)
	const delay, timeout = 1500 * time.Millisecond, 3 * time.Second
	if hedgeAfter(timeout) >= delay || timeout/3 >= delay {
		t.Fatalf("the members must answer later than the hedge (%s) and a third of the timeout, have %s", hedgeAfter(timeout), delay)
	}
	e, err := Connect(EtcdConfig{
		Endpoints:      []string{slowEndpoint(t, c.Endpoints()[0], delay), slowEndpoint(t, c.Endpoints()[0], delay)},
		DialTimeout:    time.Second,
		RequestTimeout: timeout,
		Prefix:         "/test/slow",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	const key = "/test/slow/k"
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	resp, err := e.kv.Txn(ctx, []Cmp{CreateIs(key, 0)}, []Op{Put(key, "v")}, []Op{Get(key)})
	if err != nil {
		t.Fatalf("a write through members answering after %s each, %s allowed: %v", delay, timeout, err)
	}
	if !resp.Succeeded {
		t.Fatalf("the write's guard failed on its first commit")
	}
	if took := time.Since(start); took > delay+time.Second {
		t.Fatalf("the write took %s through members answering after %s", took, delay)
	}
	direct, _ := testStore(t, c)
	got, err := direct.KV.Txn(ctxT(t), nil, []Op{Get(key)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if kvs := got.Responses[0].Kvs; len(kvs) != 1 || kvs[0].ModRevision != kvs[0].CreateRevision {
		t.Fatalf("the key should be written once, etcd has %+v", kvs)
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

package etcdv3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/ipam"
)

func store(t testing.TB, c *testenv.EtcdCluster) (*ipam.Store, *clientv3.Client) {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	prefix := "/test/" + strings.ReplaceAll(t.Name(), "/", "_")
	return ipam.NewStoreKV(KV{Client: cli}, prefix, "", slog.New(slog.NewTextHandler(io.Discard, nil))), cli
}

func set(t testing.TB, subnet string) *ipam.RangeSet {
	t.Helper()
	r, err := ipam.NewRange(subnet, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ipam.NewRangeSet([]ipam.Range{r}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func owner(id string) ipam.Record {
	return ipam.Record{ContainerID: id, IfName: "net1", PodNamespace: "ns", PodName: "pod-" + id, Node: "node-a"}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// The store behaves the same over gRPC: ordered, idempotent, guarded
// statics, and DEL that leaves no allocation behind.
func TestStoreOverGRPC(t *testing.T) {
	s, cli := store(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	sets := []*ipam.RangeSet{set(t, "10.0.0.0/24"), set(t, "fd00::/120")}
	var got []string
	for i := 0; i < 3; i++ {
		a, err := s.Allocate(ctx(t), ipam.Request{Owner: owner(fmt.Sprint("c", i)), Sets: sets})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a[0].Addr.String()+"+"+a[1].Addr.String())
	}
	if strings.Join(got, " ") != "10.0.0.2+fd00::2 10.0.0.3+fd00::3 10.0.0.4+fd00::4" {
		t.Fatalf("allocations %v", got)
	}
	again, err := s.Allocate(ctx(t), ipam.Request{Owner: owner("c1"), Sets: sets})
	if err != nil || again[0].Addr.String() != "10.0.0.3" {
		t.Fatalf("repeat ADD = %v, %v", again, err)
	}
	_, err = s.Allocate(ctx(t), ipam.Request{Owner: owner("c9"), Sets: sets, Static: map[int]netip.Addr{0: netip.MustParseAddr("10.0.0.2")}})
	var oe *ipam.OwnedError
	if !errors.As(err, &oe) || oe.Owner.ContainerID != "c0" {
		t.Fatalf("static conflict: %v", err)
	}
	for i := 0; i < 3; i++ {
		if _, err := s.Release(ctx(t), fmt.Sprint("c", i), "net1"); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := cli.Get(ctx(t), s.Prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		if !strings.Contains(string(kv.Key), "/cursors/") {
			t.Errorf("key %s left after DEL", kv.Key)
		}
	}
}

// A request etcd refuses as invalid keeps etcd's code over gRPC too, so the
// store fails it at once instead of retrying it until the deadline.
func TestARefusedRequestKeepsEtcdsCode(t *testing.T) {
	s, _ := store(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	key := s.Prefix + "/twice"
	_, err := s.KV.Txn(ctx(t), nil, []ipam.Op{ipam.Put(key, "a"), ipam.Put(key, "b")}, nil)
	var ee *ipam.EtcdError
	if !errors.As(err, &ee) || ee.Code != 3 || !strings.Contains(ee.Message, "duplicate key") {
		t.Fatalf("txn with a key written twice: %#v, want an ipam.EtcdError with gRPC code 3", err)
	}
}

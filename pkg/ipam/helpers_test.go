package ipam

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// testStore connects a Store to a real etcd under a prefix of the test's own.
func testStore(t testing.TB, c *testenv.EtcdCluster) (*Store, *Etcd) {
	t.Helper()
	e, err := Connect(EtcdConfig{
		Endpoints:      c.Endpoints(),
		DialTimeout:    2 * time.Second,
		RequestTimeout: 10 * time.Second,
		Prefix:         "/test/" + strings.ReplaceAll(t.Name(), "/", "_"),
		EndpointsField: "ipam.etcd.endpoints",
	})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return NewStore(e, "", slog.New(slog.NewTextHandler(io.Discard, nil))), e
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func owner(id string) Record {
	return Record{ContainerID: id, IfName: "net1", PodNamespace: "ns", PodName: "pod-" + id, PodUID: "uid-" + id, Node: "node-a"}
}

func allocOne(t testing.TB, s *Store, id string, sets []*RangeSet, static map[int]netip.Addr) []Assigned {
	t.Helper()
	got, err := s.Allocate(ctxT(t), Request{Owner: owner(id), Sets: sets, Static: static})
	if err != nil {
		t.Fatalf("allocate %s: %v", id, err)
	}
	return got
}

// keysUnder counts the keys under the store's prefix.
func keysUnder(t testing.TB, e *Etcd, prefix string) []string {
	t.Helper()
	resp, err := e.KV().Txn(ctxT(t), nil, []Op{{Kind: OpGetKind, Key: prefix, End: prefixEnd(prefix), KeysOnly: true}}, nil)
	if err != nil {
		t.Fatalf("get %s: %v", prefix, err)
	}
	var out []string
	for _, kv := range resp.Responses[0].Kvs {
		out = append(out, string(kv.Key))
	}
	return out
}

// fill writes address keys straight into a pool, 128 to a transaction, to
// build a nearly full pool quickly.
func fill(t testing.TB, s *Store, pool Pool, addrs []netip.Addr) {
	t.Helper()
	for i := 0; i < len(addrs); i += 128 {
		var ops []Op
		for _, a := range addrs[i:min(i+128, len(addrs))] {
			ops = append(ops, Put(pool.IPKey(a), `{"containerID":"fill","ifname":"x"}`))
		}
		if _, err := s.KV.Txn(ctxT(t), nil, ops, nil); err != nil {
			t.Fatalf("fill: %v", err)
		}
	}
}

// countingKV counts the keys etcd returns to the store, the measure of how
// much of a pool an allocation reads.
type countingKV struct {
	KV
	keys *atomic.Int64
}

func (c countingKV) Txn(ctx context.Context, cmps []Cmp, then, els []Op) (*TxnResponse, error) {
	resp, err := c.KV.Txn(ctx, cmps, then, els)
	if err == nil {
		for _, r := range resp.Responses {
			c.keys.Add(int64(len(r.Kvs)))
		}
	}
	return resp, err
}

func addrs(as []Assigned) string {
	var out []string
	for _, a := range as {
		out = append(out, a.Addr.String())
	}
	return strings.Join(out, ",")
}

// fillRandomly allocates percent of set's addresses in pool, picked at
// random, so a test or benchmark starts from a fragmented pool.
func fillRandomly(tb testing.TB, s *Store, pool Pool, set *RangeSet, percent int) {
	tb.Helper()
	var all []netip.Addr
	for w := range set.Windows(netip.Addr{}, DefaultWindow) {
		for a := w.First; ; a = a.Next() {
			all = append(all, a)
			if a == w.Last {
				break
			}
		}
	}
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	fill(tb, s, pool, all[:len(all)*percent/100])
}

package ipam

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

func TestHoldersListsEveryOwnerAcrossPoolsAndNetworksWithItsRecord(t *testing.T) {
	s, _ := testStore(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	v4 := mustSet(t, nil, [4]string{"10.1.0.0/24", "", "", ""})
	v6 := mustSet(t, nil, [4]string{"fd00:1::/120", "", "", ""})
	other := mustSet(t, nil, [4]string{"10.2.0.0/24", "", "", ""})
	allocOne(t, s, "dual", []*RangeSet{v4, v6}, nil)
	allocOne(t, s, "single", []*RangeSet{other}, nil)
	// Same subnet in another network scope, under the same prefix.
	scoped := *s
	scoped.Network = "l2-b"
	allocOne(t, &scoped, "scoped", []*RangeSet{v4}, nil)

	got, err := s.Holders(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]Holding{}
	for _, h := range got {
		byID[h.ContainerID+"/"+h.IfName] = h
	}
	if len(got) != 3 || len(byID) != 3 {
		t.Fatalf("holders = %+v, want dual, single and scoped once each", got)
	}
	for id, want := range map[string][]string{
		"dual/net1":   {"10.1.0.2", "fd00:1::2"},
		"single/net1": {"10.2.0.2"},
		"scoped/net1": {"10.1.0.2"},
	} {
		h, ok := byID[id]
		if !ok {
			t.Errorf("holder %s missing", id)
			continue
		}
		var as []string
		for _, oa := range h.Addrs {
			as = append(as, oa.Addr.String())
		}
		if !slices.Equal(as, want) {
			t.Errorf("holder %s addresses = %v, want %v", id, as, want)
		}
		cid := strings.TrimSuffix(id, "/net1")
		if h.PodUID != "uid-"+cid || h.PodName != "pod-"+cid || h.PodNamespace != "ns" || h.Node != "node-a" || h.Time.IsZero() {
			t.Errorf("holder %s record = %+v", id, h.Record)
		}
		if h.Key != OwnerKey(s.Prefix, cid, "net1") {
			t.Errorf("holder %s key = %q", id, h.Key)
		}
	}

	if _, err := s.Release(ctxT(t), "dual", "net1"); err != nil {
		t.Fatal(err)
	}
	got, err = s.Holders(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("after releasing dual, holders = %+v, want single and scoped", got)
	}
}

func TestHoldersPagesThroughMoreOwnersThanOneRead(t *testing.T) {
	s, _ := testStore(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	const n = 1100
	for i := 0; i < n; i += 128 {
		var ops []Op
		for j := i; j < min(i+128, n); j++ {
			id := fmt.Sprintf("c%04d", j)
			ops = append(ops, Put(OwnerKey(s.Prefix, id, "net1"), fmt.Sprintf(`{"containerID":%q,"ifname":"net1","time":"2026-01-01T00:00:00Z","ips":[]}`, id)))
		}
		if _, err := s.KV.Txn(ctxT(t), nil, ops, nil); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Holders(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("holders = %d, want %d", len(got), n)
	}
	for i, h := range got {
		if want := fmt.Sprintf("c%04d", i); h.ContainerID != want {
			t.Fatalf("holder %d = %s, want %s: a page was skipped or repeated", i, h.ContainerID, want)
		}
	}
}

func TestHoldersIsEmptyUnderAnUnusedPrefix(t *testing.T) {
	s, _ := testStore(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	got, err := s.Holders(ctxT(t))
	if err != nil || len(got) != 0 {
		t.Fatalf("holders = %v, %v; want none", got, err)
	}
}

package main

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/ipam"
)

// allocation is one successful ADD: which container got which address.
type allocation struct {
	cid  string
	addr string
}

// drain runs workers processes of the plugin at once, each ADDing new
// containers until the pool reports full (code 100) or stop returns true.
// Any other failure is a test error.
func drain(t *testing.T, r *rig, conf []byte, workers int, tag string, onAdd func(n int)) []allocation {
	t.Helper()
	var (
		mu    sync.Mutex
		out   []allocation
		wg    sync.WaitGroup
		total int
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				cid := fmt.Sprintf("%s-w%02d-%03d", tag, w, i)
				stdout, err := r.exec("ADD", cid, "K8S_POD_NAMESPACE=load;K8S_POD_NAME="+cid, conf)
				if err != nil {
					var pe *testenv.PluginError
					if errors.As(err, &pe) && pe.CNI != nil && pe.CNI.Code == ipam.CodeRangeFull {
						return
					}
					t.Errorf("ADD %s: %v", cid, err)
					return
				}
				got := ips(t, "1.0.0", stdout)
				mu.Lock()
				out = append(out, allocation{cid, got[0]})
				total++
				n := total
				mu.Unlock()
				if onAdd != nil {
					onAdd(n)
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// delAll DELs every allocation with workers processes at once.
func delAll(t *testing.T, r *rig, conf []byte, workers int, allocs []allocation) {
	t.Helper()
	work := make(chan string)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for cid := range work {
				if _, err := r.exec("DEL", cid, "", conf); err != nil {
					t.Errorf("DEL %s: %v", cid, err)
				}
			}
		}()
	}
	for _, a := range allocs {
		work <- a.cid
	}
	close(work)
	wg.Wait()
}

// assertExact checks that allocs are unique, number want, and are exactly
// what etcd holds, owner by owner.
func assertExact(t *testing.T, r *rig, allocs []allocation, want int) {
	t.Helper()
	byAddr := map[string]string{}
	for _, a := range allocs {
		if prev, dup := byAddr[a.addr]; dup {
			t.Fatalf("%s handed to both %s and %s", a.addr, prev, a.cid)
		}
		byAddr[a.addr] = a.cid
	}
	if len(allocs) != want {
		t.Fatalf("%d addresses handed out, want %d", len(allocs), want)
	}
	owners := r.keys("/owners/")
	addrKeys := len(r.keys("/ipv4/"))
	if len(owners) != want || addrKeys != want {
		t.Fatalf("etcd holds %d owners and %d address keys, want %d each", len(owners), addrKeys, want)
	}
	for _, a := range allocs {
		if len(r.keys("/owners/"+a.cid+"/net1")) != 1 {
			t.Fatalf("ADD %s succeeded but its owner key is missing", a.cid)
		}
	}
}

// Sixteen plugin processes race for one /24 until it is full: no address
// twice, exactly 253 minus the exclusions handed out, and nothing left
// after DEL of everything.
func TestSixteenProcessesFillOneSlash24WithoutDuplicates(t *testing.T) {
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	conf := r.conf("1.0.0", map[string]any{"subnet": "10.20.0.0/24", "exclude": []string{"10.20.0.10", "10.20.0.100/30"}})
	start := time.Now()
	allocs := drain(t, r, conf, 16, "c", nil)
	t.Logf("%d ADDs from 16 processes in %s", len(allocs), time.Since(start))
	assertExact(t, r, allocs, 253-5)
	for _, a := range allocs {
		addr := netip.MustParsePrefix(a.addr).Addr()
		for _, ex := range []string{"10.20.0.10/32", "10.20.0.100/30", "10.20.0.1/32"} {
			if netip.MustParsePrefix(ex).Contains(addr) {
				t.Fatalf("excluded or gateway address %s handed out", addr)
			}
		}
	}
	delAll(t, r, conf, 16, allocs)
	if left := r.allocationKeys(); len(left) != 0 {
		t.Fatalf("%d keys left after DEL of everything: %v", len(left), left)
	}
	if cursors := r.keys("/"); len(cursors) != 1 || cursors[0] != r.prefix+"/cursors/10.20.0.1-10.20.0.254" {
		t.Fatalf("after DEL of everything the prefix holds %v, want only the range set's cursor", cursors)
	}
}

// A 3-member cluster loses its leader in the middle of allocations: every
// ADD still succeeds within its timeout, nothing is duplicated or lost.
func TestThreeMemberClusterLosesAMemberDuringAllocations(t *testing.T) {
	c := testenv.StartEtcdClusterRetry(t, 3, nil)
	r := newRig(t, c)
	conf := r.conf("1.0.0", map[string]any{"subnet": "10.30.0.0/24", "rangeEnd": "10.30.0.160",
		"etcd": map[string]any{"endpoints": c.Endpoints(), "prefix": r.prefix, "requestTimeout": "10s"}})
	victim := leaderIndex(t, r, c)
	var once sync.Once
	start := time.Now()
	allocs := drain(t, r, conf, 8, "k", func(n int) {
		if n == 40 {
			once.Do(func() {
				t.Logf("killing member %s (the leader) after %d ADDs", c.Members[victim].Name, n)
				c.Members[victim].Stop()
			})
		}
	})
	t.Logf("%d ADDs in %s across the failover", len(allocs), time.Since(start))
	if c.Members[victim].Running() {
		t.Fatal("the member was not killed")
	}
	assertExact(t, r, allocs, 160-1)
	if err := c.Members[victim].Start(); err != nil {
		t.Fatal(err)
	}
	delAll(t, r, conf, 8, allocs)
	if left := r.allocationKeys(); len(left) != 0 {
		t.Fatalf("%d keys left after DEL of everything", len(left))
	}
}

func leaderIndex(t *testing.T, r *rig, c *testenv.EtcdCluster) int {
	t.Helper()
	ctx, cancel := ctxTimeout(5 * time.Second)
	defer cancel()
	for i, ep := range c.Endpoints() {
		st, err := r.cli.Status(ctx, ep)
		if err != nil {
			t.Fatalf("status %s: %v", ep, err)
		}
		if st.Leader == st.Header.MemberId {
			return i
		}
	}
	t.Fatal("no leader")
	return -1
}

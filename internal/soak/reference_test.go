// The reference install (Multus thin v4.2.3 + Whereabouts v0.9.2) as one
// more implementation, through testenv's reference API (internal/testenv/
// reference*.go, whereabouts*.go).
package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

func init() {
	implementations = append(implementations, registered{Reference, func() implementation { return newReference() }})
}

// reference is Multus thin + Whereabouts as their daemonsets install
// them on each node, with Whereabouts' ip-control-loop as the node agent.
// The NAD chains the same per-pod work as meta-cni's: macvlan, its IPAM,
// then host-route.
type reference struct {
	cluster *testenv.ReferenceCluster
	mu      sync.Mutex
	loops   map[string]*testenv.WhereaboutsControlLoop
}

func newReference() *reference {
	return &reference{loops: map[string]*testenv.WhereaboutsControlLoop{}}
}

func (r *reference) name() string { return Reference }

func (r *reference) setup(c *cluster) error {
	rc, err := c.kube.InstallReference(filepath.Join(c.dir, "reference"))
	if err != nil {
		return err
	}
	r.cluster = rc
	return nil
}

func (r *reference) install(c *cluster, n *node) error {
	_, err := testenv.InstallReferenceNode(testenv.ReferenceNode{
		Name: n.name, BinDir: n.binDir(), ConfDir: n.confDir(), CacheDir: r.multusCache(n),
		ClusterNetwork:   filepath.Join(n.confDir(), "10-cluster.conflist"),
		MultusKubeconfig: r.cluster.MultusKubeconfig, WhereaboutsKubeconfig: r.cluster.WhereaboutsKubeconfig,
	})
	if err != nil {
		return err
	}
	loop, err := testenv.StartWhereaboutsControlLoop(n.path("/var/lib/ip-control-loop"), n.name, r.cluster.WhereaboutsKubeconfig)
	if err != nil {
		return fmt.Errorf("node %s: %w", n.name, err)
	}
	// It exits at once when something it needs is missing (its Node).
	time.Sleep(2 * time.Second)
	if !loop.Running() {
		return fmt.Errorf("node %s: ip-control-loop exited; its log is %s", n.name, loop.LogFile)
	}
	r.mu.Lock()
	r.loops[n.name] = loop
	r.mu.Unlock()
	return nil
}

func (r *reference) multusCache(n *node) string { return n.path("/var/lib/cni/multus") }

func (r *reference) networkConfig(c *cluster, name string, p pool) string {
	ipam := testenv.WhereaboutsIPAM(fmt.Sprintf("%s-%s/%d", p.First, p.Last, p.Subnet.Bits()), r.cluster.WhereaboutsKubeconfig)
	ipam["gateway"] = p.gateway().String()
	b, _ := json.Marshal(map[string]any{"cniVersion": "1.0.0", "name": name, "plugins": []any{
		map[string]any{"type": "macvlan", "master": master, "mode": "bridge", "ipam": ipam},
		map[string]any{"type": "host-route", "hostInterface": master, "serviceCIDRs": []string{"10.96.0.0/12"}},
	}})
	return string(b)
}

// allocations reads every IPPool; an address in two pools, or an
// allocation without its OverlappingRangeIPReservation, is a fault of
// the store.
func (r *reference) allocations(ctx context.Context, c *cluster) ([]allocation, []violation, error) {
	held, err := c.kube.WhereaboutsAllocations(ctx)
	if err != nil {
		return nil, nil, err
	}
	res, err := c.kube.WhereaboutsReservations(ctx)
	if err != nil {
		return nil, nil, err
	}
	var out []allocation
	var faults []violation
	for _, h := range held {
		out = append(out, allocation{Addr: h.IP, ContainerID: h.ContainerID, IfName: h.IfName, Pod: h.PodRef})
		name := strings.ReplaceAll(h.IP.String(), ":", "-")
		if podRef, ok := res[name]; !ok || podRef != h.PodRef {
			faults = append(faults, violation{Kind: storeMismatch, Detail: fmt.Sprintf("IPPool %s holds %s for %s, its reservation names %q", h.Pool, h.IP, h.PodRef, podRef)})
		}
		delete(res, name)
	}
	for name, podRef := range res {
		faults = append(faults, violation{Kind: leakedAllocation, Detail: fmt.Sprintf("reservation %s of pod %s, in no IPPool", name, podRef)})
	}
	return out, faults, nil
}

// nodeRecords lists Multus's delegate cache: one file per container,
// named by its ID.
func (r *reference) nodeRecords(n *node) ([]nodeRecord, error) {
	entries, err := os.ReadDir(r.multusCache(n))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	var out []nodeRecord
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		out = append(out, nodeRecord{Kind: "Multus delegate cache", Path: filepath.Join(r.multusCache(n), e.Name()), ContainerID: e.Name()})
	}
	return out, nil
}

// poolFullCode: Whereabouts has no code of its own for an exhausted range.
func (r *reference) poolFullCode() string { return "" }

// poolFull: Whereabouts' AssignmentError (pkg/allocate), which Multus
// passes on as the text of a code 999.
func (r *reference) poolFull(err error) bool {
	return err != nil && strings.Contains(err.Error(), "Could not allocate IP in range")
}

// underTest: Whereabouts' duplicates and leaks are figures, not failures.
func (r *reference) underTest() bool { return false }

func (r *reference) agentPID(n *node) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l := r.loops[n.name]; l != nil {
		return l.PID()
	}
	return 0
}

func (r *reference) teardown(*cluster) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.loops {
		l.Stop()
	}
}

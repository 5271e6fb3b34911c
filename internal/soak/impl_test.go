package soak

import (
	"context"
	"net/netip"
)

// implementation is one meta-plugin + IPAM under test: meta-cni with
// etcd-ipam and host-route now, Multus thin + Whereabouts (testenv's
// reference install) beside it. The harness, the load and the invariants
// are the same for every implementation; only what is below differs.
type implementation interface {
	name() string
	// setup does the cluster-wide part of the install: RBAC, CRDs.
	setup(c *cluster) error
	// install puts the implementation on a node (binaries, its conflist
	// in the node's conf dir, its node agent if it has one) and returns
	// once the node's runtime could ADD.
	install(c *cluster, n *node) error
	// networkConfig is the spec.config of the NAD every pod asks for: a
	// macvlan on the nodes' master with the implementation's IPAM over p.
	networkConfig(c *cluster, name string, p pool) string
	// allocations reads the IPAM's store: every held address, and the
	// faults the store's own records show (an address two records claim,
	// a record pointing at an address that does not point back).
	allocations(ctx context.Context, c *cluster) ([]allocation, []violation, error)
	// nodeRecords lists the per-attachment state it keeps on a node, such
	// as meta-cni's attachment records and network-status journal.
	nodeRecords(n *node) ([]nodeRecord, error)
	// poolFullCode is the CNI code its IPAM returns for an exhausted
	// pool; "" when it has none of its own, and any failure counts.
	poolFullCode() string
	// poolFull tells a failed ADD that was refused for want of an
	// address from any other failure.
	poolFull(err error) bool
	// agentPID is the node agent's process, whose peak RSS is reported; 0
	// when the implementation runs none.
	agentPID(n *node) int
	// underTest is true for meta-cni, whose broken invariants fail the
	// test; the reference's are counted as its figures, since they are
	// what the comparison is for.
	underTest() bool
	// teardown stops its node agents.
	teardown(c *cluster)
}

// pool is the macvlan network's addresses: first..last of subnet.
type pool struct {
	Subnet      netip.Prefix
	First, Last netip.Addr
}

// size is how many addresses the pool hands out.
func (p pool) size() int {
	n := 0
	for a := p.First; a.Compare(p.Last) <= 0; a = a.Next() {
		n++
	}
	return n
}

// newPool is size addresses of subnet, from its second address on (the
// first is the gateway's).
func newPool(subnet string, size int) pool {
	p := pool{Subnet: netip.MustParsePrefix(subnet)}
	p.First = p.Subnet.Addr().Next().Next()
	p.Last = p.First
	for i := 1; i < size; i++ {
		p.Last = p.Last.Next()
	}
	return p
}

func (p pool) gateway() netip.Addr { return p.Subnet.Addr().Next() }

// allocation is one address an IPAM store holds, and for whom.
type allocation struct {
	Addr        netip.Addr
	ContainerID string
	IfName      string
	Pod         string // namespace/name, as the store recorded it
}

// nodeRecord is one piece of per-attachment state on a node: it must
// belong to a live pod, by container ID or, for a journal entry, by pod.
type nodeRecord struct {
	Kind        string // "attachment record", "network-status journal entry", ...
	Path        string
	ContainerID string
	Pod         string // namespace/name
}

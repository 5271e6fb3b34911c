package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

var (
	whereaboutsIPPools      = schema.GroupVersionResource{Group: "whereabouts.cni.cncf.io", Version: "v1alpha1", Resource: "ippools"}
	whereaboutsReservations = schema.GroupVersionResource{Group: "whereabouts.cni.cncf.io", Version: "v1alpha1", Resource: "overlappingrangeipreservations"}
)

// WhereaboutsAllocation is one address an IPPool holds, for the invariants
// a soak checks on the reference (no duplicates, no leaks).
type WhereaboutsAllocation struct {
	Pool        string // the IPPool's name
	Range       string // its CIDR
	IP          netip.Addr
	PodRef      string // "namespace/name"
	ContainerID string
	IfName      string
}

// WhereaboutsAllocations lists every allocation of every IPPool in
// kube-system (Whereabouts' namespace), its offsets turned into addresses.
func (k *Kube) WhereaboutsAllocations(ctx context.Context) ([]WhereaboutsAllocation, error) {
	dc, err := dynamic.NewForConfig(k.AdminConfig())
	if err != nil {
		return nil, err
	}
	pools, err := dc.Resource(whereaboutsIPPools).Namespace("kube-system").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list IPPools: %w", err)
	}
	var out []WhereaboutsAllocation
	for _, p := range pools.Items {
		var spec struct {
			Range       string `json:"range"`
			Allocations map[string]struct {
				ContainerID string `json:"id"`
				PodRef      string `json:"podref"`
				IfName      string `json:"ifname"`
			} `json:"allocations"`
		}
		raw, err := json.Marshal(p.Object["spec"])
		if err == nil {
			err = json.Unmarshal(raw, &spec)
		}
		if err != nil {
			return nil, fmt.Errorf("read IPPool %s: %w", p.GetName(), err)
		}
		prefix, err := netip.ParsePrefix(spec.Range)
		if err != nil {
			return nil, fmt.Errorf("IPPool %s range %q: %w", p.GetName(), spec.Range, err)
		}
		for offset, a := range spec.Allocations {
			n, err := strconv.ParseUint(offset, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("IPPool %s offset %q: %w", p.GetName(), offset, err)
			}
			out = append(out, WhereaboutsAllocation{Pool: p.GetName(), Range: spec.Range, IP: addOffset(prefix.Addr(), n),
				PodRef: a.PodRef, ContainerID: a.ContainerID, IfName: a.IfName})
		}
	}
	return out, nil
}

// WhereaboutsReservations lists the OverlappingRangeIPReservations in
// kube-system, by name (the address, ':' written '-') to pod reference:
// Whereabouts keeps one per allocated address beside its IPPool.
func (k *Kube) WhereaboutsReservations(ctx context.Context) (map[string]string, error) {
	dc, err := dynamic.NewForConfig(k.AdminConfig())
	if err != nil {
		return nil, err
	}
	list, err := dc.Resource(whereaboutsReservations).Namespace("kube-system").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list OverlappingRangeIPReservations: %w", err)
	}
	out := map[string]string{}
	for _, r := range list.Items {
		podRef, _, _ := unstructured.NestedString(r.Object, "spec", "podref")
		out[r.GetName()] = podRef
	}
	return out, nil
}

// addOffset is a + n, as Whereabouts counts an allocation's offset from
// its range's first address.
func addOffset(a netip.Addr, n uint64) netip.Addr {
	b := a.As16()
	for i := 15; i >= 0 && n > 0; i-- {
		sum := uint64(b[i]) + n&0xff
		b[i] = byte(sum)
		n = n>>8 + sum>>8
	}
	out := netip.AddrFrom16(b)
	if a.Is4() {
		return out.Unmap()
	}
	return out
}

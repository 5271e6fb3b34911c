package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meta-cni/meta-cni/pkg/ipam"
)

// fakeAllocations holds holdings in memory and records every release.
type fakeAllocations struct {
	holdings []ipam.Holding
	released []string
	listErr  error
}

func (f *fakeAllocations) Holders(context.Context) ([]ipam.Holding, error) {
	return slices.Clone(f.holdings), f.listErr
}

func (f *fakeAllocations) Release(_ context.Context, id, ifName string) ([]netip.Addr, error) {
	for i, h := range f.holdings {
		if h.ContainerID == id && h.IfName == ifName {
			f.holdings = slices.Delete(f.holdings, i, i+1)
			f.released = append(f.released, id+"/"+ifName)
			var out []netip.Addr
			for _, oa := range h.Addrs {
				out = append(out, oa.Addr)
			}
			return out, nil
		}
	}
	return nil, nil
}

// fakePods answers from a map of "ns/name" to UID, or with an error.
type fakePods struct {
	uids map[string]string
	errs map[string]error
	gets []string
}

func (f *fakePods) Get(_ context.Context, ns, name string) (*corev1.Pod, error) {
	key := ns + "/" + name
	f.gets = append(f.gets, key)
	if err, ok := f.errs[key]; ok {
		return nil, err
	}
	uid, ok := f.uids[key]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, name)
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)}}, nil
}

func holding(id, ifName, ns, pod, uid string, at time.Time, ip string) ipam.Holding {
	return ipam.Holding{Allocation: ipam.Allocation{
		Record: ipam.Record{ContainerID: id, IfName: ifName, PodNamespace: ns, PodName: pod, PodUID: uid, Node: "node-dead", Time: at},
		Addrs:  []ipam.OwnedAddr{{Addr: netip.MustParseAddr(ip)}},
	}}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestReconcilerPassReleasesOnlyOldHoldingsOfPodsThatAreGone(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	old, young := now.Add(-time.Hour), now.Add(-time.Minute)
	unavailable := apierrors.NewServiceUnavailable("etcd is down")
	for _, tc := range []struct {
		name    string
		holding ipam.Holding
		pods    fakePods
		release bool
	}{
		{"pod exists with the same UID: kept", holding("a", "net1", "ns", "a", "uid-a", old, "10.0.0.1"),
			fakePods{uids: map[string]string{"ns/a": "uid-a"}}, false},
		{"pod not found: released", holding("b", "net1", "ns", "b", "uid-b", old, "10.0.0.2"),
			fakePods{}, true},
		{"pod recreated with another UID: released", holding("c", "net1", "ns", "c", "uid-c1", old, "10.0.0.3"),
			fakePods{uids: map[string]string{"ns/c": "uid-c2"}}, true},
		{"pod gone but record younger than the grace: kept", holding("d", "net1", "ns", "d", "uid-d", young, "10.0.0.4"),
			fakePods{}, false},
		{"record without a pod UID: kept", holding("e", "net1", "ns", "e", "", old, "10.0.0.5"),
			fakePods{}, false},
		{"record without a time: kept", holding("t", "net1", "ns", "t", "uid-t", time.Time{}, "10.0.0.6"),
			fakePods{}, false},
		{"API unavailable: kept", holding("f", "net1", "ns", "f", "uid-f", old, "10.0.0.7"),
			fakePods{errs: map[string]error{"ns/f": unavailable}}, false},
		{"API forbids the read: kept", holding("g", "net1", "ns", "g", "uid-g", old, "10.0.0.8"),
			fakePods{errs: map[string]error{"ns/g": apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "g", errors.New("rbac"))}}, false},
		{"network error: kept", holding("h", "net1", "ns", "h", "uid-h", old, "10.0.0.9"),
			fakePods{errs: map[string]error{"ns/h": errors.New("dial tcp: connection refused")}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &fakeAllocations{holdings: []ipam.Holding{tc.holding}}
			r := &Reconciler{Store: store, Pods: &tc.pods, Grace: 10 * time.Minute, Log: discard(), Now: func() time.Time { return now }}
			got, err := r.Pass(context.Background())
			wantErr := tc.pods.errs != nil
			if (err != nil) != wantErr {
				t.Errorf("err = %v, want an error: %v", err, wantErr)
			}
			if tc.release {
				if len(got) != 1 || got[0].ContainerID != tc.holding.ContainerID || got[0].Addrs[0] != tc.holding.Addrs[0].Addr ||
					got[0].PodName != tc.holding.PodName || got[0].PodUID != tc.holding.PodUID {
					t.Errorf("released %+v, want %s", got, tc.holding.ContainerID)
				}
				if len(store.holdings) != 0 {
					t.Errorf("still held: %+v", store.holdings)
				}
			} else if len(got) != 0 || len(store.released) != 0 {
				t.Errorf("released %+v (store %v), want nothing", got, store.released)
			}
			if r.passes.Load() != 1 || r.released.Load() != uint64(len(got)) || (r.errs.Load() != 0) != wantErr {
				t.Errorf("counters passes=%d released=%d errors=%d", r.passes.Load(), r.released.Load(), r.errs.Load())
			}
		})
	}
}

func TestReconcilerPassReadsEachPodOnceAndReleasesAllItsInterfaces(t *testing.T) {
	now := time.Now()
	store := &fakeAllocations{holdings: []ipam.Holding{
		holding("x", "net1", "ns", "x", "uid-x", now.Add(-time.Hour), "10.0.0.1"),
		holding("x", "net2", "ns", "x", "uid-x", now.Add(-time.Hour), "10.0.1.1"),
		holding("y", "net1", "ns", "y", "uid-y", now.Add(-time.Hour), "10.0.0.2"),
	}}
	pods := &fakePods{uids: map[string]string{"ns/y": "uid-y"}}
	r := &Reconciler{Store: store, Pods: pods, Grace: time.Minute, Log: discard()}
	got, err := r.Pass(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || strings.Join(store.released, " ") != "x/net1 x/net2" {
		t.Errorf("released %+v (%v), want both interfaces of x", got, store.released)
	}
	if strings.Join(pods.gets, " ") != "ns/x ns/y" {
		t.Errorf("pod GETs = %v, want one per pod", pods.gets)
	}
}

func TestReconcilerPassFailsWithoutReleasingWhenHoldingsCannotBeListed(t *testing.T) {
	store := &fakeAllocations{listErr: errors.New("etcd unavailable")}
	r := &Reconciler{Store: store, Pods: &fakePods{}, Grace: time.Minute, Log: discard()}
	if _, err := r.Pass(context.Background()); err == nil || !strings.Contains(err.Error(), "list ipam holdings") {
		t.Fatalf("err = %v, want the list failure", err)
	}
	if r.errs.Load() != 1 {
		t.Errorf("errors counter = %d, want 1", r.errs.Load())
	}
}

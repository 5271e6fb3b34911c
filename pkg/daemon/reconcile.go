package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meta-cni/meta-cni/pkg/ipam"
)

// Allocations is the part of *ipam.Store the reconciler uses: it lists every
// holding and frees one through the guarded DEL path, never by address.
type Allocations interface {
	Holders(ctx context.Context) ([]ipam.Holding, error)
	Release(ctx context.Context, containerID, ifName string) ([]netip.Addr, error)
}

// Pods reads one pod. A Kubernetes NotFound error must come back as one
// (apierrors.IsNotFound), since only it proves the pod is gone.
type Pods interface {
	Get(ctx context.Context, namespace, name string) (*corev1.Pod, error)
}

// KubePods reads pods with a consistent GET: no resourceVersion, so the API
// server answers from etcd, not from a cache that may lag a recreation.
type KubePods struct{ Client kubernetes.Interface }

// Get reads namespace/name.
func (k KubePods) Get(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	return k.Client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
}

// Reconciler frees the allocations of pods that no longer exist: those a
// node that died for good will never DEL.
type Reconciler struct {
	Store Allocations
	Pods  Pods
	// Grace is how old a record must be before it is considered: a pod is
	// created before its ADD, but a young record may belong to a pod the
	// API has not yet shown to this reader.
	Grace time.Duration
	Log   *slog.Logger
	// Now is time.Now unless a test sets it.
	Now func() time.Time
	// Pools, when set, counts etcd-ipam pools for /metrics while this
	// reconciler leads.
	Pools *PoolCounter

	passes, released, errs atomic.Uint64
}

// Released is one holding a pass freed.
type Released struct {
	PodNamespace, PodName, PodUID string
	ContainerID, IfName, Node     string
	Addrs                         []netip.Addr
}

// podKey identifies a pod by name; the UID is compared separately.
type podKey struct{ namespace, name string }

// podState is what one GET said about a pod name.
type podState struct {
	uid  string // the current pod's UID; empty when gone
	gone bool
	err  error
}

// Pass lists every holding once and releases those whose pod is gone. A
// holding is released only when its record names a pod UID, is older than
// the grace, and a consistent GET of its pod returns NotFound or a pod with
// another UID. Any other answer keeps it. Errors are joined and returned
// after the pass has looked at every holding.
func (r *Reconciler) Pass(ctx context.Context) ([]Released, error) {
	r.passes.Add(1)
	holdings, err := r.Store.Holders(ctx)
	if err != nil {
		r.errs.Add(1)
		return nil, fmt.Errorf("list ipam holdings: %w", err)
	}
	now := r.now()
	pods := map[podKey]podState{}
	var out []Released
	var errs []error
	for _, h := range holdings {
		if h.PodUID == "" || h.PodName == "" || h.PodNamespace == "" || h.Time.IsZero() || now.Sub(h.Time) < r.Grace {
			continue
		}
		k := podKey{h.PodNamespace, h.PodName}
		st, seen := pods[k]
		if !seen {
			st = r.lookup(ctx, k)
			pods[k] = st
			if st.err != nil {
				r.errs.Add(1)
				errs = append(errs, st.err)
			}
		}
		if st.err != nil || (!st.gone && st.uid == h.PodUID) {
			continue
		}
		addrs, err := r.Store.Release(ctx, h.ContainerID, h.IfName)
		if err != nil {
			r.errs.Add(1)
			errs = append(errs, fmt.Errorf("release container %s interface %s of pod %s/%s: %w", h.ContainerID, h.IfName, k.namespace, k.name, err))
			continue
		}
		if len(addrs) == 0 {
			continue // freed meanwhile, by its DEL or another pass
		}
		rel := Released{PodNamespace: k.namespace, PodName: k.name, PodUID: h.PodUID, ContainerID: h.ContainerID, IfName: h.IfName, Node: h.Node, Addrs: addrs}
		r.released.Add(1)
		r.log().Info("released allocation of a pod that no longer exists",
			"pod", k.namespace+"/"+k.name, "podUID", h.PodUID, "currentUID", st.uid, "containerID", h.ContainerID,
			"ifname", h.IfName, "node", h.Node, "addrs", addrs, "since", h.Time)
		out = append(out, rel)
	}
	return out, errors.Join(errs...)
}

func (r *Reconciler) lookup(ctx context.Context, k podKey) podState {
	pod, err := r.Pods.Get(ctx, k.namespace, k.name)
	switch {
	case apierrors.IsNotFound(err):
		return podState{gone: true}
	case err != nil:
		return podState{err: fmt.Errorf("get pod %s/%s: %w", k.namespace, k.name, err)}
	case pod == nil || pod.UID == "":
		return podState{err: fmt.Errorf("get pod %s/%s: answer has no UID", k.namespace, k.name)}
	}
	return podState{uid: string(pod.UID)}
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reconciler) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

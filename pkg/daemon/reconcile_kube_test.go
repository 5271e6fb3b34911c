package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/ipam"
	"github.com/meta-cni/meta-cni/pkg/ipam/etcdv3"
)

// erroringPods fails every GET of the named pods, as an API server that is
// down or refusing would, and asks the real one for the rest.
type erroringPods struct {
	Pods
	fail map[string]bool
}

func (e erroringPods) Get(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	if e.fail[ns+"/"+name] {
		return nil, apierrors.NewServiceUnavailable("kube-apiserver is restarting")
	}
	return e.Pods.Get(ctx, ns, name)
}

func TestReconcilerAgainstRealEtcdAndAPIServerFreesOnlyDeadPodsAddresses(t *testing.T) {
	testenv.RequireRoot(t)
	k := testenv.StartKubeT(t)
	cs := k.Clientset()
	const ns = "reconcile"
	if err := k.EnsureNamespace(ns); err != nil {
		t.Fatal(err)
	}
	store, _ := realStore(t, "/test/reconcile")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	set := rangeSet(t, "10.77.0.0/24")
	uids := map[string]string{}
	for _, name := range []string{"a", "b", "c", "d", "f", "g"} {
		uids[name] = createPod(t, cs, ns, name)
	}
	alloc := func(id, pod, uid string) netip.Addr {
		t.Helper()
		got, err := store.Allocate(ctx, ipam.Request{Owner: ipam.Record{ContainerID: id, IfName: "net1",
			PodNamespace: ns, PodName: pod, PodUID: uid, Node: "node-dead"}, Sets: []*ipam.RangeSet{set}})
		if err != nil {
			t.Fatalf("allocate %s: %v", id, err)
		}
		return got[0].Addr
	}
	addr := map[string]netip.Addr{
		"a": alloc("ctr-a", "a", uids["a"]),
		"b": alloc("ctr-b", "b", uids["b"]),
		"c": alloc("ctr-c", "c", uids["c"]),
		"e": alloc("ctr-e", "", ""), // a non-Kubernetes caller
		"f": alloc("ctr-f", "f", uids["f"]),
		"g": alloc("ctr-g", "g", uids["g"]),
	}
	cutoff := time.Now()
	time.Sleep(20 * time.Millisecond)
	addr["d"] = alloc("ctr-d", "d", uids["d"])

	deletePod(t, cs, ns, "b")
	deletePod(t, cs, ns, "c")
	if uid := createPod(t, cs, ns, "c"); uid == uids["c"] {
		t.Fatalf("recreated pod c kept UID %s", uid)
	}
	deletePod(t, cs, ns, "d")
	deletePod(t, cs, ns, "f") // gone, but the API errors when asked: kept

	r := &Reconciler{
		Store: store,
		Pods:  erroringPods{Pods: KubePods{Client: cs}, fail: map[string]bool{ns + "/f": true}},
		Grace: time.Hour,
		Log:   discard(),
		// Every record written before cutoff is past the grace; d is not.
		Now: func() time.Time { return cutoff.Add(time.Hour) },
	}
	released, err := r.Pass(ctx)
	if err == nil || !strings.Contains(err.Error(), "get pod "+ns+"/f") {
		t.Errorf("pass err = %v, want the failed GET of %s/f", err, ns)
	}
	var got []string
	for _, rel := range released {
		if len(rel.Addrs) != 1 {
			t.Errorf("released %+v, want one address", rel)
		}
		got = append(got, fmt.Sprintf("%s=%s", rel.PodName, rel.Addrs[0]))
	}
	slices.Sort(got)
	if want := []string{"b=" + addr["b"].String(), "c=" + addr["c"].String()}; !slices.Equal(got, want) {
		t.Errorf("released %v, want %v", got, want)
	}

	holders, err := store.Holders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, h := range holders {
		left = append(left, h.ContainerID)
	}
	slices.Sort(left)
	if want := []string{"ctr-a", "ctr-d", "ctr-e", "ctr-f", "ctr-g"}; !slices.Equal(left, want) {
		t.Errorf("holders after the pass = %v, want %v", left, want)
	}
	entries, err := store.List(ctx, ipam.NewPool(store.Prefix, "", netip.MustParsePrefix("10.77.0.0/24")))
	if err != nil {
		t.Fatal(err)
	}
	inPool := map[netip.Addr]string{}
	for _, e := range entries {
		inPool[e.Addr] = e.ContainerID
	}
	for name, a := range addr {
		held, want := inPool[a], "ctr-"+name
		if name == "b" || name == "c" {
			want = ""
		}
		if held != want {
			t.Errorf("address %s of %s is held by %q, want %q", a, name, held, want)
		}
	}

	// A second pass finds nothing more to do.
	r.Pods = KubePods{Client: cs}
	deletePod(t, cs, ns, "g")
	r.Now = func() time.Time { return cutoff.Add(-time.Minute) } // everything is young now
	if again, err := r.Pass(ctx); err != nil || len(again) != 0 {
		t.Errorf("second pass released %v, %v; want nothing while records are young", again, err)
	}
}

// realStore is a store over a warm gRPC client of a fresh etcd, and the
// etcd's endpoints.
func realStore(t *testing.T, prefix string) (*ipam.Store, []string) {
	t.Helper()
	c := testenv.StartEtcdClusterRetry(t, 1, nil)
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return ipam.NewStoreKV(etcdv3.KV{Client: cli}, prefix, "", discard()), c.Endpoints()
}

func rangeSet(t *testing.T, cidr string) *ipam.RangeSet {
	t.Helper()
	r, err := ipam.NewRange(cidr, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ipam.NewRangeSet([]ipam.Range{r}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func createPod(t *testing.T, cs kubernetes.Interface, ns, name string) string {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.invalid/pause"}}}}
	got, err := cs.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s/%s: %v", ns, name, err)
	}
	return string(got.UID)
}

// deletePod removes an unscheduled pod at once and waits until GET says so.
func deletePod(t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	zero := int64(0)
	if err := cs.CoreV1().Pods(ns).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatalf("delete pod %s/%s: %v", ns, name, err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s/%s still there after delete: %v", ns, name, err)
		}
	}
}

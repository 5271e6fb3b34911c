package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/kube"
)

// napiKube is a real kube-apiserver with the NAD CRD and a ServiceAccount
// holding exactly the chart's RBAC, the identity the daemon runs as.
type napiKube struct {
	k      *testenv.Kube
	cs     kubernetes.Interface
	cfg    *rest.Config // the chart's ServiceAccount
	nextNS int
}

func startNAPIKube(t *testing.T) *napiKube {
	t.Helper()
	testenv.RequireRoot(t)
	k := testenv.StartKubeT(t)
	if err := k.InstallNADCRD(); err != nil {
		t.Fatal(err)
	}
	rules, err := testenv.ChartRBACRules()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := k.ServiceAccountKubeconfig(t.TempDir(), "meta-cni", "meta-cni", rules)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return &napiKube{k: k, cs: k.Clientset(), cfg: cfg}
}

// namespace makes a fresh namespace, so subtests never see each other's
// pods and Events.
func (nk *napiKube) namespace(t *testing.T) string {
	t.Helper()
	nk.nextNS++
	ns := fmt.Sprintf("napi-%d", nk.nextNS)
	if err := nk.k.EnsureNamespace(ns); err != nil {
		t.Fatal(err)
	}
	return ns
}

func (nk *napiKube) createPod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	pod, err := nk.cs.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.PodSpec{NodeName: napiNode, Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/none"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s/%s: %v", ns, name, err)
	}
	return pod
}

func (nk *napiKube) annotation(t *testing.T, ns, name string) (string, bool) {
	t.Helper()
	pod, err := nk.cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod %s/%s: %v", ns, name, err)
	}
	v, ok := pod.Annotations[networkStatusKey]
	return v, ok
}

// nodeAPI is a NodeAPI serving on a real unix socket, and the plugin's
// client for it.
type nodeAPI struct {
	n       *NodeAPI
	srv     *nodeAPIServer
	sock    string
	journal string
	client  *kube.Client
}

// napiSocketDir is short enough for a unix socket path.
func napiSocketDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "napi-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// napiNode is the node the tests' node API serves and their pods run on.
const napiNode = "node-1"

// serveNAPI starts a NodeAPI for napiNode with cfg's identity and journal
// (a fresh dir when empty), closed at cleanup.
func serveNAPI(t *testing.T, cfg *rest.Config, journal string) *nodeAPI {
	t.Helper()
	return serveNAPIOn(t, cfg, napiNode, journal)
}

// serveNAPIOn is serveNAPI for a daemon that believes it runs on node.
func serveNAPIOn(t *testing.T, cfg *rest.Config, node, journal string) *nodeAPI {
	t.Helper()
	if journal == "" {
		journal = filepath.Join(t.TempDir(), "network-status")
	}
	n, err := NewNodeAPI(cfg, node, journal, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatalf("NewNodeAPI: %v", err)
	}
	sock := filepath.Join(napiSocketDir(t), "node-api.sock")
	srv, err := serveNodeAPI(sock, n)
	if err != nil {
		n.Close(context.Background())
		t.Fatalf("serveNodeAPI: %v", err)
	}
	a := &nodeAPI{n: n, srv: srv, sock: sock, journal: journal, client: kube.NewDaemon(sock, 10*time.Second)}
	t.Cleanup(a.close)
	return a
}

func (a *nodeAPI) close() {
	if a.srv == nil {
		return
	}
	a.srv.close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.n.Close(ctx)
	a.srv = nil
}

// metric is the value of one series of the node API's metrics, such as
// `meta_cni_network_status_patches_total{result="applied"}`; -1 when it is
// not there.
func (a *nodeAPI) metric(t *testing.T, series string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(a.n)
	return value(t, reg, series)
}

func (a *nodeAPI) journalFiles(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(a.journal)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func (a *nodeAPI) waitSettled(t *testing.T, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, func() (bool, string) {
		p := a.metric(t, "meta_cni_network_status_pending")
		files := a.journalFiles(t)
		return p == 0 && len(files) == 0, fmt.Sprintf("pending %v, journal %v", p, files)
	})
}

// eventually polls cond every 50ms until it holds, failing after timeout.
func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not so after %s: %s", timeout, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func podRef(p *corev1.Pod) *kube.Pod {
	return &kube.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name, UID: p.UID, ResourceVersion: p.ResourceVersion}}
}

// rawRequest sends one request over the socket and decodes the answer as a
// Kubernetes Status.
func rawRequest(t *testing.T, sock, method, path string) (int, metav1.Status) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}, Timeout: 10 * time.Second}
	req, err := http.NewRequest(method, "http://"+kube.DaemonHost+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("%s %s: %d, body %q is not a Status: %v", method, path, resp.StatusCode, body, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	return resp.StatusCode, st
}

func writeJournalEntry(t *testing.T, dir string, p pendingStatus) {
	t.Helper()
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, p.Namespace+"_"+p.Name+".json"), string(data), 0o600)
}

// The node API's calls against a real kube-apiserver, as the chart's
// ServiceAccount, through the plugin's own client on a unix socket.
func TestNodeAPIAgainstKubeAPIServer(t *testing.T) {
	nk := startNAPIKube(t)
	ctx := context.Background()

	t.Run("GetsPodAndNADAndReportsAMissingPodAsNotFound", func(t *testing.T) {
		ns := nk.namespace(t)
		want := nk.createPod(t, ns, "web")
		nad := &nadv1.NetworkAttachmentDefinition{ObjectMeta: metav1.ObjectMeta{Name: "macvlan", Namespace: ns},
			Spec: nadv1.NetworkAttachmentDefinitionSpec{Config: `{"cniVersion":"1.0.0","type":"macvlan"}`}}
		if _, err := nk.k.NADClientset().K8sCniCncfIoV1().NetworkAttachmentDefinitions(ns).Create(ctx, nad, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		a := serveNAPI(t, nk.cfg, "")

		pod, err := a.client.GetPod(ctx, ns, "web", string(want.UID))
		if err != nil {
			t.Fatalf("GetPod: %v", err)
		}
		if pod.UID != want.UID || pod.Name != "web" || pod.Namespace != ns {
			t.Errorf("GetPod = %s/%s uid %s, want %s/web uid %s", pod.Namespace, pod.Name, pod.UID, ns, want.UID)
		}
		got, err := a.client.GetNetworkAttachmentDefinition(ctx, ns, "macvlan")
		if err != nil {
			t.Fatalf("GetNetworkAttachmentDefinition: %v", err)
		}
		if got.Spec.Config != nad.Spec.Config {
			t.Errorf("NAD config = %q, want %q", got.Spec.Config, nad.Spec.Config)
		}
		_, err = a.client.GetPod(ctx, ns, "absent", "")
		if !apierrors.IsNotFound(err) {
			t.Errorf("GetPod of a missing pod: err = %v, want NotFound", err)
		}
		if kube.IsUnreachable(err) || kube.IsDaemonUnavailable(err) {
			t.Errorf("a missing pod reads as unreachable: %v", err)
		}
		for series, want := range map[string]float64{
			`meta_cni_node_api_requests_total{route="get-pod",code="200"}`:                           1,
			`meta_cni_node_api_requests_total{route="get-pod",code="404"}`:                           2, // watch cache, then quorum read
			`meta_cni_node_api_requests_total{route="get-network-attachment-definition",code="200"}`: 1,
			`meta_cni_node_api_request_duration_seconds_count{route="get-pod"}`:                      3,
			`meta_cni_node_api_request_duration_seconds_bucket{route="get-pod",le="+Inf"}`:           3,
		} {
			if got := a.metric(t, series); got != want {
				t.Errorf("%s = %v, want %v", series, got, want)
			}
		}
	})

	t.Run("PatchWithUIDIsAcceptedAtOnceThenAppliedAndUnjournaled", func(t *testing.T) {
		ns := nk.namespace(t)
		pod := nk.createPod(t, ns, "web")
		a := serveNAPI(t, nk.cfg, "")
		if err := a.client.SetPodAnnotation(ctx, podRef(pod), networkStatusKey, `[{"name":"cbr0"}]`); err != nil {
			t.Fatalf("SetPodAnnotation: %v", err)
		}
		if got := a.metric(t, `meta_cni_node_api_requests_total{route="patch-pod-status",code="202"}`); got != 1 {
			t.Errorf("patch answered 202 %v times, want 1 (accepted, not forwarded)", got)
		}
		eventually(t, 10*time.Second, func() (bool, string) {
			v, _ := nk.annotation(t, ns, "web")
			return v == `[{"name":"cbr0"}]`, "annotation " + v
		})
		a.waitSettled(t, 5*time.Second)
		for series, want := range map[string]float64{
			`meta_cni_network_status_patches_total{result="applied"}`: 1,
			`meta_cni_network_status_patches_total{result="failed"}`:  0,
			`meta_cni_network_status_patch_retries_total`:             0,
		} {
			if got := a.metric(t, series); got != want {
				t.Errorf("%s = %v, want %v", series, got, want)
			}
		}
	})

	t.Run("SecondPatchForTheSamePodWins", func(t *testing.T) {
		ns := nk.namespace(t)
		pod := nk.createPod(t, ns, "web")
		a := serveNAPI(t, nk.cfg, "")
		for _, v := range []string{`[{"name":"first"}]`, `[{"name":"second"}]`} {
			if err := a.client.SetPodAnnotation(ctx, podRef(pod), networkStatusKey, v); err != nil {
				t.Fatalf("SetPodAnnotation %s: %v", v, err)
			}
		}
		a.waitSettled(t, 10*time.Second)
		if v, _ := nk.annotation(t, ns, "web"); v != `[{"name":"second"}]` {
			t.Errorf("annotation = %q once settled, want the second patch's", v)
		}
		applied := a.metric(t, `meta_cni_network_status_patches_total{result="applied"}`)
		if applied < 1 || applied > 2 {
			t.Errorf("applied = %v, want 1 or 2", applied)
		}
		if got := a.metric(t, `meta_cni_network_status_patches_total{result="failed"}`); got != 0 {
			t.Errorf("failed = %v, want 0", got)
		}
	})

	t.Run("PatchForAReplacedPodIsNotAppliedAndRecordsAWarning", func(t *testing.T) {
		ns := nk.namespace(t)
		old := nk.createPod(t, ns, "web")
		zero := int64(0)
		if err := nk.cs.CoreV1().Pods(ns).Delete(ctx, "web", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, func() (bool, string) {
			_, err := nk.cs.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
			return apierrors.IsNotFound(err), fmt.Sprintf("old pod still there: %v", err)
		})
		now := nk.createPod(t, ns, "web")
		if now.UID == old.UID {
			t.Fatal("recreated pod kept its UID")
		}
		a := serveNAPI(t, nk.cfg, "")
		if err := a.client.SetPodAnnotation(ctx, podRef(old), networkStatusKey, `[{"name":"stale"}]`); err != nil {
			t.Fatalf("SetPodAnnotation: %v", err)
		}
		eventually(t, 10*time.Second, func() (bool, string) {
			f := a.metric(t, `meta_cni_network_status_patches_total{result="failed"}`)
			return f == 1, fmt.Sprintf("failed = %v", f)
		})
		a.waitSettled(t, 5*time.Second)
		if got := a.metric(t, `meta_cni_network_status_patches_total{result="applied"}`); got != 0 {
			t.Errorf("applied = %v, want 0", got)
		}
		if v, ok := nk.annotation(t, ns, "web"); ok {
			t.Errorf("the new pod got the old pod's network-status %q", v)
		}
		eventually(t, 10*time.Second, func() (bool, string) {
			evs, err := nk.cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			for _, e := range evs.Items {
				if e.Reason == "NetworkStatusFailed" && e.Type == corev1.EventTypeWarning &&
					e.InvolvedObject.Kind == "Pod" && e.InvolvedObject.Name == "web" && e.InvolvedObject.UID == old.UID {
					return true, ""
				}
			}
			return false, fmt.Sprintf("events %+v", evs.Items)
		})
		eventually(t, 5*time.Second, func() (bool, string) {
			s := a.metric(t, `meta_cni_node_api_events_total{result="sent"}`)
			return s == 1, fmt.Sprintf("events sent = %v", s)
		})
	})

	t.Run("PatchForADeletedPodFailsWithoutAWarning", func(t *testing.T) {
		ns := nk.namespace(t)
		a := serveNAPI(t, nk.cfg, "")
		gone := &kube.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gone", UID: "0b5e1b1e-0000-4000-8000-000000000000"}}
		if err := a.client.SetPodAnnotation(ctx, gone, networkStatusKey, "[]"); err != nil {
			t.Fatalf("SetPodAnnotation: %v", err)
		}
		eventually(t, 10*time.Second, func() (bool, string) {
			f := a.metric(t, `meta_cni_network_status_patches_total{result="failed"}`)
			return f == 1, fmt.Sprintf("failed = %v", f)
		})
		a.waitSettled(t, 5*time.Second)
		a.close() // drains the Event queue: whatever was queued is counted now
		for _, r := range []string{"sent", "failed", "dropped"} {
			if got := a.metric(t, `meta_cni_node_api_events_total{result="`+r+`"}`); got != 0 {
				t.Errorf("events %s = %v; a pod that is gone gets no Warning", r, got)
			}
		}
	})

	t.Run("EventIsAcceptedThenSent", func(t *testing.T) {
		ns := nk.namespace(t)
		pod := nk.createPod(t, ns, "web")
		a := serveNAPI(t, nk.cfg, "")
		if err := a.client.Event(ctx, podRef(pod), corev1.EventTypeNormal, "AddedInterface", "net1 from macvlan"); err != nil {
			t.Fatalf("Event: %v", err)
		}
		if got := a.metric(t, `meta_cni_node_api_requests_total{route="create-event",code="202"}`); got != 1 {
			t.Errorf("event answered 202 %v times, want 1", got)
		}
		eventually(t, 10*time.Second, func() (bool, string) {
			evs, err := nk.cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			for _, e := range evs.Items {
				if e.Reason == "AddedInterface" && e.Message == "net1 from macvlan" && e.InvolvedObject.UID == pod.UID {
					return true, ""
				}
			}
			return false, fmt.Sprintf("events %+v", evs.Items)
		})
		eventually(t, 5*time.Second, func() (bool, string) {
			s := a.metric(t, `meta_cni_node_api_events_total{result="sent"}`)
			return s == 1, fmt.Sprintf("events sent = %v", s)
		})
		for _, r := range []string{"failed", "dropped"} {
			if got := a.metric(t, `meta_cni_node_api_events_total{result="`+r+`"}`); got != 0 {
				t.Errorf("events %s = %v, want 0", r, got)
			}
		}
	})

	t.Run("JournalLeftByAPreviousDaemonIsApplied", func(t *testing.T) {
		ns := nk.namespace(t)
		pod := nk.createPod(t, ns, "web")
		journal := filepath.Join(t.TempDir(), "network-status")
		patch := fmt.Sprintf(`{"metadata":{"uid":%q,"annotations":{%q:"[{\"name\":\"replayed\"}]"}}}`, pod.UID, networkStatusKey)
		writeJournalEntry(t, journal, pendingStatus{Namespace: ns, Name: "web", UID: string(pod.UID),
			Patch: json.RawMessage(patch), Since: time.Now().Add(-time.Minute)})
		writeFile(t, filepath.Join(journal, ".napi-1_web.json.tmp"), "half", 0o600) // an interrupted write
		writeFile(t, filepath.Join(journal, "napi-1_broken.json"), "{", 0o600)
		a := serveNAPI(t, nk.cfg, journal)
		eventually(t, 10*time.Second, func() (bool, string) {
			v, _ := nk.annotation(t, ns, "web")
			return v == `[{"name":"replayed"}]`, "annotation " + v
		})
		a.waitSettled(t, 5*time.Second)
		if got := a.metric(t, `meta_cni_network_status_patches_total{result="applied"}`); got != 1 {
			t.Errorf("applied = %v, want 1", got)
		}
	})

	t.Run("UnknownCallIs501AndBadNameIs400AsStatus", func(t *testing.T) {
		ns := nk.namespace(t)
		nk.createPod(t, ns, "web")
		a := serveNAPI(t, nk.cfg, "")
		for _, tc := range []struct {
			method, path string
			code         int
			reason       metav1.StatusReason
		}{
			{"DELETE", "/api/v1/namespaces/" + ns + "/pods/web", http.StatusNotImplemented, ""},
			{"GET", "/api/v1/namespaces/" + ns + "/pods", http.StatusNotImplemented, ""},
			{"GET", "/api/v1/namespaces/" + ns + "/secrets/web", http.StatusNotImplemented, ""},
			{"PUT", "/api/v1/namespaces/" + ns + "/pods/web/status", http.StatusNotImplemented, ""},
			{"GET", "/api/v1/namespaces/" + ns + "/pods/Not_A_Name", http.StatusBadRequest, metav1.StatusReasonBadRequest},
			{"GET", "/api/v1/namespaces/Bad_NS/pods/web", http.StatusBadRequest, metav1.StatusReasonBadRequest},
			{"GET", "/api/v1/namespaces/" + ns + "/pods/..%2Fsecrets", http.StatusBadRequest, metav1.StatusReasonBadRequest},
		} {
			code, st := rawRequest(t, a.sock, tc.method, tc.path)
			if code != tc.code || st.Kind != "Status" || st.Status != metav1.StatusFailure || int(st.Code) != tc.code || st.Reason != tc.reason {
				t.Errorf("%s %s = %d %+v, want %d Status Failure reason %q", tc.method, tc.path, code, st, tc.code, tc.reason)
			}
		}
		if _, err := a.client.GetPod(ctx, ns, "Not_A_Name", ""); !apierrors.IsBadRequest(err) {
			t.Errorf("GetPod of an invalid name: err = %v, want BadRequest", err)
		}
		if v, ok := nk.annotation(t, ns, "web"); ok {
			t.Errorf("pod annotated %q by a refused call", v)
		}
	})
}

// While the API server is down, GETs fail as unreachable, a patch waits in
// the journal, and it is applied once the API server is back.
func TestNodeAPIKeepsPatchesWhileTheAPIServerIsDown(t *testing.T) {
	nk := startNAPIKube(t)
	ctx := context.Background()

	t.Run("PendingPatchIsAppliedWhenTheAPIServerReturns", func(t *testing.T) {
		ns := nk.namespace(t)
		pod := nk.createPod(t, ns, "web")
		a := serveNAPI(t, nk.cfg, "")
		if _, err := a.client.GetPod(ctx, ns, "web", string(pod.UID)); err != nil {
			t.Fatalf("GetPod while up: %v", err)
		}
		nk.k.StopAPIServer()
		stopped := time.Now()
		restarted := false
		defer func() {
			if !restarted {
				if err := nk.k.Start(); err != nil {
					t.Errorf("restart kube-apiserver: %v", err)
				}
			}
		}()

		_, err := a.client.GetPod(ctx, ns, "web", "")
		if !kube.IsUnreachable(err) || !apierrors.IsServiceUnavailable(err) || kube.IsDaemonUnavailable(err) {
			t.Errorf("GetPod while down: err = %v, want a 503 the plugin reads as unreachable", err)
		}
		_, err = a.client.GetNetworkAttachmentDefinition(ctx, ns, "macvlan")
		if !kube.IsUnreachable(err) || !apierrors.IsServiceUnavailable(err) {
			t.Errorf("GetNetworkAttachmentDefinition while down: err = %v, want a 503 the plugin reads as unreachable", err)
		}
		if got := a.metric(t, `meta_cni_node_api_requests_total{route="get-pod",code="503"}`); got != 1 {
			t.Errorf("get-pod 503 = %v, want 1", got)
		}

		if err := a.client.SetPodAnnotation(ctx, podRef(pod), networkStatusKey, `[{"name":"late"}]`); err != nil {
			t.Fatalf("SetPodAnnotation while down: %v", err)
		}
		eventually(t, 5*time.Second, func() (bool, string) {
			r := a.metric(t, `meta_cni_network_status_patch_retries_total`)
			return r >= 1, fmt.Sprintf("retries = %v", r)
		})
		if files := a.journalFiles(t); len(files) != 1 || files[0] != ns+"_web.json" {
			t.Errorf("journal = %v, want [%s_web.json]", files, ns)
		}
		if got := a.metric(t, `meta_cni_network_status_pending`); got != 1 {
			t.Errorf("pending = %v, want 1", got)
		}
		if got := a.metric(t, `meta_cni_network_status_patches_total{result="failed"}`); got != 0 {
			t.Errorf("failed = %v while retrying, want 0", got)
		}

		restarted = true
		if err := nk.k.Start(); err != nil {
			t.Fatalf("restart kube-apiserver: %v", err)
		}
		t.Logf("kube-apiserver was down %s", time.Since(stopped).Round(time.Millisecond))
		eventually(t, 35*time.Second, func() (bool, string) {
			v, _ := nk.annotation(t, ns, "web")
			return v == `[{"name":"late"}]`, "annotation " + v
		})
		a.waitSettled(t, 5*time.Second)
		if got := a.metric(t, `meta_cni_network_status_patches_total{result="applied"}`); got != 1 {
			t.Errorf("applied = %v, want 1", got)
		}
		if _, err := a.client.GetPod(ctx, ns, "web", string(pod.UID)); err != nil {
			t.Errorf("GetPod once back: %v", err)
		}
	})

	t.Run("CloseReturnsByItsDeadlineAndLeavesTheJournalForTheNextDaemon", func(t *testing.T) {
		ns := nk.namespace(t)
		pod := nk.createPod(t, ns, "web")
		a := serveNAPI(t, nk.cfg, "")
		nk.k.StopAPIServer()
		restarted := false
		defer func() {
			if !restarted {
				if err := nk.k.Start(); err != nil {
					t.Errorf("restart kube-apiserver: %v", err)
				}
			}
		}()
		if err := a.client.SetPodAnnotation(ctx, podRef(pod), networkStatusKey, `[{"name":"next-daemon"}]`); err != nil {
			t.Fatalf("SetPodAnnotation while down: %v", err)
		}
		if err := a.client.Event(ctx, podRef(pod), corev1.EventTypeNormal, "AddedInterface", "queued"); err != nil {
			t.Fatalf("Event while down: %v", err)
		}
		a.srv.close()
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		start := time.Now()
		a.n.Close(cctx)
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("Close took %s with a 1s deadline", took)
		}
		a.srv = nil
		if files := a.journalFiles(t); len(files) != 1 || files[0] != ns+"_web.json" {
			t.Fatalf("journal after Close = %v, want [%s_web.json]", files, ns)
		}
		if got := a.metric(t, `meta_cni_network_status_patches_total{result="failed"}`); got != 0 {
			t.Errorf("failed = %v, want the patch kept, not given up", got)
		}

		restarted = true
		if err := nk.k.Start(); err != nil {
			t.Fatalf("restart kube-apiserver: %v", err)
		}
		next := serveNAPI(t, nk.cfg, a.journal)
		eventually(t, 10*time.Second, func() (bool, string) {
			v, _ := nk.annotation(t, ns, "web")
			return v == `[{"name":"next-daemon"}]`, "annotation " + v
		})
		next.waitSettled(t, 5*time.Second)
	})
}

// get answers GET path over the socket with the body.
func socketGet(sock, path string) (string, error) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}, Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + kube.DaemonHost + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func named(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) })
}

func TestServeNodeAPISocketIsRootOnlyAndReplacesAStaleOne(t *testing.T) {
	path := filepath.Join(napiSocketDir(t), "run", "node-api.sock")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}

	s, err := serveNodeAPI(path, named("one"))
	if err != nil {
		t.Fatalf("serveNodeAPI over a stale socket: %v", err)
	}
	defer s.close()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, want a socket with 0600", fi.Mode())
	}
	if body, err := socketGet(path, "/healthz"); err != nil || body != "one" {
		t.Errorf("GET over the socket = %q, %v; want one", body, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("socket dir holds %d entries, want only the socket: %v", len(entries), entries)
	}
	s.close()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("after close, socket Lstat err = %v, want it removed", err)
	}
}

func TestServeNodeAPICloseLeavesASocketAnotherServerPutThere(t *testing.T) {
	path := filepath.Join(napiSocketDir(t), "node-api.sock")
	first, err := serveNodeAPI(path, named("first"))
	if err != nil {
		t.Fatal(err)
	}
	defer first.close()
	second, err := serveNodeAPI(path, named("second"))
	if err != nil {
		t.Fatal(err)
	}
	defer second.close()
	first.close()
	if body, err := socketGet(path, "/"); err != nil || body != "second" {
		t.Fatalf("after the first server closed, the socket answers %q, %v; want the second server", body, err)
	}
	second.close()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("after the second server closed, socket Lstat err = %v, want it removed", err)
	}
}

func TestProbeNodeAPIFailsWhenNothingAnswers(t *testing.T) {
	path := filepath.Join(napiSocketDir(t), "node-api.sock")
	if err := probeNodeAPI(context.Background(), path); err == nil {
		t.Error("probe of a missing socket succeeded")
	}
	s, err := serveNodeAPI(path, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if err := probeNodeAPI(context.Background(), path); err == nil {
		t.Error("probe of a socket answering 500 succeeded")
	}
}

// The daemon as the chart runs it with --node-api-socket: the socket is up
// and named in the conflist, /healthz checks it, and it goes with the
// daemon.
func TestDaemonRunServesTheNodeAPIAndNamesItInTheConflist(t *testing.T) {
	nk := startNAPIKube(t)
	ctx := context.Background()
	ns := nk.namespace(t)
	pod := nk.createPod(t, ns, "web")
	sock := filepath.Join(napiSocketDir(t), "node-api.sock")
	f := newFixture(t, func(c *Config) {
		c.APIServer, c.CAFile = nk.k.URL, nk.k.CAFile
		c.NodeAPISocket = sock
		c.NodeName = napiNode
		c.TokenRefreshInterval = time.Hour
	})
	writeFile(t, f.cfg.TokenFile, nk.cfg.BearerToken, 0o600)

	runCtx, stop := context.WithCancel(ctx)
	exited := make(chan error, 1)
	go func() { exited <- f.d.Run(runCtx) }()
	defer func() {
		stop()
		<-exited
	}()
	eventually(t, 20*time.Second, func() (bool, string) {
		return f.d.Ready(), "install not finished"
	})
	if got := installedPlugin(t, f)["daemonSocket"]; got != sock {
		t.Errorf("conflist daemonSocket = %v, want %s", got, sock)
	}
	if err := probeNodeAPI(ctx, sock); err != nil {
		t.Errorf("node API /healthz: %v", err)
	}
	if code, body := scrape(t, f.d, "/healthz"); code != http.StatusOK {
		t.Errorf("daemon /healthz = %d %s, want 200", code, body)
	}
	c := kube.NewDaemon(sock, 10*time.Second)
	if got, err := c.GetPod(ctx, ns, "web", string(pod.UID)); err != nil || got.UID != pod.UID {
		t.Errorf("GetPod through the daemon's socket = %v, %v", got, err)
	}
	if err := c.SetPodAnnotation(ctx, podRef(pod), networkStatusKey, `[{"name":"via-run"}]`); err != nil {
		t.Fatalf("SetPodAnnotation: %v", err)
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		v, _ := nk.annotation(t, ns, "web")
		return v == `[{"name":"via-run"}]`, "annotation " + v
	})
	if code, body := scrape(t, f.d, "/metrics"); code != http.StatusOK ||
		!strings.Contains(body, `meta_cni_node_api_requests_total{code="200",route="get-pod"} 1`+"\n") {
		t.Errorf("/metrics = %d, lacks the node API's get-pod count:\n%s", code, body)
	}

	stop()
	if err := <-exited; err != nil {
		t.Fatalf("Run: %v", err)
	}
	exited <- nil
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("after Run returned, socket Lstat err = %v, want it removed", err)
	}
	if !kube.IsDaemonUnavailable(func() error { _, err := c.GetPod(ctx, ns, "web", ""); return err }()) {
		t.Error("the plugin's client still reaches a node API after Run returned")
	}
}

// Without an API server to reach: what the node API answers on its own.
func TestNodeAPIAnswersOnItsOwnWhenItCannotForward(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	a := serveNAPI(t, &rest.Config{Host: "http://" + addr}, "")
	ctx := context.Background()

	_, err = a.client.GetPod(ctx, "default", "web", "")
	if !kube.IsUnreachable(err) || !apierrors.IsServiceUnavailable(err) {
		t.Errorf("GetPod with no API server: err = %v, want a 503 the plugin reads as unreachable", err)
	}
	var se *apierrors.StatusError
	if !errors.As(err, &se) || se.ErrStatus.Reason != metav1.StatusReasonServiceUnavailable {
		t.Errorf("GetPod with no API server: err = %#v, want a Status with reason ServiceUnavailable", err)
	}

	huge := strings.Repeat("x", maxBody+1)
	for _, path := range []string{"/api/v1/namespaces/default/pods/web/status", "/api/v1/namespaces/default/events"} {
		method := http.MethodPatch
		if strings.HasSuffix(path, "events") {
			method = http.MethodPost
		}
		c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", a.sock)
		}}}
		req, _ := http.NewRequest(method, "http://"+kube.DaemonHost+path, strings.NewReader(huge))
		req.Header.Set("Content-Type", "application/merge-patch+json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s %s with a body over %d bytes = %d, want 413", method, path, maxBody, resp.StatusCode)
		}
	}
	if files := a.journalFiles(t); len(files) != 0 {
		t.Errorf("journal = %v after refused bodies", files)
	}
}

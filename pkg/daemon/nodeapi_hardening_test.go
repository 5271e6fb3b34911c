package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meta-cni/meta-cni/pkg/kube"
)

// patchRequest sends one PATCH with body over the socket and decodes the
// answer as a Kubernetes Status.
func patchRequest(t *testing.T, sock, path, contentType, body string) (int, metav1.Status) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}, Timeout: 10 * time.Second}
	req, err := http.NewRequest(http.MethodPatch, "http://"+kube.DaemonHost+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("PATCH %s: %v", path, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	var st metav1.Status
	if err := json.Unmarshal(answer, &st); err != nil {
		t.Fatalf("PATCH %s: %d, body %q is not a Status: %v", path, resp.StatusCode, answer, err)
	}
	return resp.StatusCode, st
}

func (nk *napiKube) createPodOn(t *testing.T, ns, name, node string) *corev1.Pod {
	t.Helper()
	pod, err := nk.cs.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/none"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s/%s: %v", ns, name, err)
	}
	return pod
}

// The daemon's ServiceAccount may patch any pod's status in the cluster;
// its node API lends that out only for the network-status of a pod that
// runs on the daemon's own node.
func TestNodeAPIPatchesOnlyNetworkStatusOfPodsOnItsNode(t *testing.T) {
	nk := startNAPIKube(t)
	ctx := context.Background()

	t.Run("AnythingButTheNetworkStatusMergePatchIsRefusedAs422", func(t *testing.T) {
		ns := nk.namespace(t)
		pod := nk.createPod(t, ns, "web")
		a := serveNAPI(t, nk.cfg, "")
		path := "/api/v1/namespaces/" + ns + "/pods/web/status"
		status := `"[{\"name\":\"cbr0\"}]"`
		uid := fmt.Sprintf("%q", pod.UID)
		merge := "application/merge-patch+json"
		for _, tc := range []struct{ name, contentType, body string }{
			{"no UID", merge, `{"metadata":{"annotations":{"` + networkStatusKey + `":` + status + `}}}`},
			{"empty UID", merge, `{"metadata":{"uid":"","annotations":{"` + networkStatusKey + `":` + status + `}}}`},
			{"no annotation", merge, `{"metadata":{"uid":` + uid + `}}`},
			{"a second annotation", merge, `{"metadata":{"uid":` + uid + `,"annotations":{"` + networkStatusKey + `":` + status + `,"other":"x"}}}`},
			{"another annotation only", merge, `{"metadata":{"uid":` + uid + `,"annotations":{"other":"x"}}}`},
			{"labels", merge, `{"metadata":{"uid":` + uid + `,"labels":{"app":"evil"},"annotations":{"` + networkStatusKey + `":` + status + `}}}`},
			{"status", merge, `{"metadata":{"uid":` + uid + `,"annotations":{"` + networkStatusKey + `":` + status + `}},"status":{"phase":"Failed"}}`},
			{"annotation removed", merge, `{"metadata":{"uid":` + uid + `,"annotations":{"` + networkStatusKey + `":null}}}`},
			{"network-status not a list", merge, `{"metadata":{"uid":` + uid + `,"annotations":{"` + networkStatusKey + `":"hello"}}}`},
			{"JSON patch", "application/json-patch+json", `[{"op":"replace","path":"/status/phase","value":"Failed"}]`},
			{"strategic merge patch", "application/strategic-merge-patch+json", `{"metadata":{"uid":` + uid + `,"annotations":{"` + networkStatusKey + `":` + status + `}}}`},
			{"not JSON", merge, `{"metadata":`},
		} {
			code, st := patchRequest(t, a.sock, path, tc.contentType, tc.body)
			if code != http.StatusUnprocessableEntity || st.Reason != metav1.StatusReasonInvalid || int(st.Code) != code ||
				!strings.Contains(st.Message, "pod "+ns+"/web") {
				t.Errorf("%s: %d %+v, want 422 Invalid naming the pod", tc.name, code, st)
			}
		}
		if files := a.journalFiles(t); len(files) != 0 {
			t.Errorf("journal = %v after refused patches", files)
		}
		got, err := nk.cs.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Annotations) != 0 || got.Labels["app"] == "evil" || got.Status.Phase == corev1.PodFailed {
			t.Errorf("pod changed by refused patches: annotations %v, labels %v, phase %s", got.Annotations, got.Labels, got.Status.Phase)
		}
	})

	t.Run("PatchOfAPodOnAnotherNodeIsNeverApplied", func(t *testing.T) {
		ns := nk.namespace(t)
		other := nk.createPodOn(t, ns, "other", "node-2")
		unscheduled := nk.createPodOn(t, ns, "pending", "")
		a := serveNAPI(t, nk.cfg, "")
		for _, pod := range []*corev1.Pod{other, unscheduled} {
			if err := a.client.SetPodAnnotation(ctx, podRef(pod), networkStatusKey, `[{"name":"stolen"}]`); err != nil {
				t.Fatalf("SetPodAnnotation %s: %v", pod.Name, err)
			}
		}
		eventually(t, 10*time.Second, func() (bool, string) {
			f := a.metric(t, `meta_cni_network_status_patches_total{result="failed"}`)
			return f == 2, fmt.Sprintf("failed = %v", f)
		})
		a.waitSettled(t, 5*time.Second)
		a.close() // drains the Event queue
		for _, name := range []string{"other", "pending"} {
			if v, ok := nk.annotation(t, ns, name); ok {
				t.Errorf("pod %s on another node got network-status %q", name, v)
			}
		}
		if got := a.metric(t, `meta_cni_network_status_patches_total{result="applied"}`); got != 0 {
			t.Errorf("applied = %v, want 0", got)
		}
		if got := a.metric(t, `meta_cni_node_api_events_total{result="sent"}`); got != 0 {
			t.Errorf("events sent = %v; another node's pod gets no Event from this node", got)
		}
	})

	t.Run("DaemonWithoutNodeNameRefusesPatchesAs403AndStillForwardsGETs", func(t *testing.T) {
		ns := nk.namespace(t)
		pod := nk.createPod(t, ns, "web")
		a := serveNAPIOn(t, nk.cfg, "", "")
		got, err := a.client.GetPod(ctx, ns, "web", string(pod.UID))
		if err != nil || got.UID != pod.UID {
			t.Fatalf("GetPod through a daemon without a node name = %v, %v", got, err)
		}
		err = a.client.SetPodAnnotation(ctx, podRef(pod), networkStatusKey, `[{"name":"cbr0"}]`)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "NODE_NAME") {
			t.Errorf("SetPodAnnotation through a daemon without a node name: err = %v, want Forbidden naming NODE_NAME", err)
		}
		if v, ok := nk.annotation(t, ns, "web"); ok {
			t.Errorf("pod annotated %q by a daemon that cannot check its node", v)
		}
		if files := a.journalFiles(t); len(files) != 0 {
			t.Errorf("journal = %v, want nothing journaled", files)
		}
	})

	t.Run("JournalEntryWiderThanNetworkStatusIsDropped", func(t *testing.T) {
		ns := nk.namespace(t)
		pod := nk.createPod(t, ns, "web")
		journal := filepath.Join(t.TempDir(), "network-status")
		patch := fmt.Sprintf(`{"metadata":{"uid":%q,"labels":{"app":"evil"},"annotations":{%q:"[]"}}}`, pod.UID, networkStatusKey)
		writeJournalEntry(t, journal, pendingStatus{Namespace: ns, Name: "web", UID: string(pod.UID),
			Patch: json.RawMessage(patch), Since: time.Now()})
		a := serveNAPI(t, nk.cfg, journal)
		if files := a.journalFiles(t); len(files) != 0 {
			t.Errorf("journal = %v, want the wide entry removed", files)
		}
		a.close()
		got, err := nk.cs.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Labels["app"] == "evil" || len(got.Annotations) != 0 {
			t.Errorf("journal entry applied: labels %v, annotations %v", got.Labels, got.Annotations)
		}
	})

	t.Run("PatchTheJournalCannotHoldIsCheckedAndAppliedAtOnce", func(t *testing.T) {
		ns := nk.namespace(t)
		mine := nk.createPod(t, ns, "web")
		other := nk.createPodOn(t, ns, "other", "node-2")
		a := serveNAPI(t, nk.cfg, "")
		// A file where the journal dir was makes every journal write fail.
		if err := os.RemoveAll(a.journal); err != nil {
			t.Fatal(err)
		}
		writeFile(t, a.journal, "", 0o600)
		if err := a.client.SetPodAnnotation(ctx, podRef(mine), networkStatusKey, `[{"name":"sync"}]`); err != nil {
			t.Fatalf("SetPodAnnotation: %v", err)
		}
		if v, _ := nk.annotation(t, ns, "web"); v != `[{"name":"sync"}]` {
			t.Errorf("annotation = %q right after the call, want it already set", v)
		}
		err := a.client.SetPodAnnotation(ctx, podRef(other), networkStatusKey, `[{"name":"stolen"}]`)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "node-2") {
			t.Errorf("synchronous patch of another node's pod: err = %v, want Forbidden naming node-2", err)
		}
		if v, ok := nk.annotation(t, ns, "other"); ok {
			t.Errorf("pod on another node annotated %q", v)
		}
		// A replaced pod is refused as the API server refuses a stale UID.
		stale := podRef(mine)
		stale.UID = "0b5e1b1e-0000-4000-8000-0000000000aa"
		err = a.client.SetPodAnnotation(ctx, stale, networkStatusKey, `[{"name":"stale"}]`)
		var se *apierrors.StatusError
		if !apierrors.IsInvalid(err) || !errors.As(err, &se) || se.ErrStatus.Details == nil ||
			len(se.ErrStatus.Details.Causes) != 1 || se.ErrStatus.Details.Causes[0].Field != "metadata.uid" {
			t.Errorf("synchronous patch with a stale UID: err = %#v, want Invalid on metadata.uid", err)
		}
		if v, _ := nk.annotation(t, ns, "web"); v != `[{"name":"sync"}]` {
			t.Errorf("annotation = %q after a stale patch, want the first one kept", v)
		}
	})
}

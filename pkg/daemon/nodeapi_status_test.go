package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/meta-cni/meta-cni/pkg/kube"
)

const fakePodUID = "4b9e0f4e-0000-4000-8000-000000000001"

// fakeUpstream answers the status queue's GETs with a pod on napiNode, its
// PATCHes with codes, one per request (the last one over and over), and
// records the Events it gets.
type fakeUpstream struct {
	unscheduled bool // the pod has no spec.nodeName yet

	mu      sync.Mutex
	codes   []int
	patches int
	events  []corev1.Event
}

func (f *fakeUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	switch {
	case r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		node := napiNode
		if f.unscheduled {
			node = ""
		}
		io.WriteString(w, `{"kind":"Pod","apiVersion":"v1","metadata":{"uid":"`+fakePodUID+`"},"spec":{"nodeName":"`+node+`"}}`)
	case r.Method == http.MethodPatch:
		code := f.codes[min(f.patches, len(f.codes)-1)]
		f.patches++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		if code/100 == 2 {
			io.WriteString(w, `{"kind":"Pod","apiVersion":"v1"}`)
			return
		}
		json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status: metav1.StatusFailure, Code: int32(code), Message: fmt.Sprintf("answered %d", code)})
	case r.Method == http.MethodPost:
		var ev corev1.Event
		_ = json.Unmarshal(body, &ev)
		f.events = append(f.events, ev)
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "{}")
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (f *fakeUpstream) state() (int, []corev1.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.patches, append([]corev1.Event(nil), f.events...)
}

func patchThroughFake(t *testing.T, codes ...int) (*nodeAPI, *fakeUpstream) {
	t.Helper()
	up := &fakeUpstream{codes: codes}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	a := serveNAPI(t, &rest.Config{Host: srv.URL}, "")
	pod := &kube.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: fakePodUID}}
	if err := a.client.SetPodAnnotation(context.Background(), pod, networkStatusKey, "[]"); err != nil {
		t.Fatalf("SetPodAnnotation: %v", err)
	}
	a.waitSettled(t, 10*time.Second)
	a.close() // the Event queue is drained
	return a, up
}

// A kube-apiserver that is starting answers 401 or 403 until its
// authenticator and RBAC caches are filled; the patch must outlive that.
func TestStatusPatchRefusedWhileTheAPIServerCannotYetAuthorizeIsRetried(t *testing.T) {
	for _, code := range []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			a, up := patchThroughFake(t, code, http.StatusOK)
			patches, events := up.state()
			if patches != 2 || len(events) != 0 {
				t.Errorf("upstream got %d patches and events %+v, want 2 patches and no Event", patches, events)
			}
			for series, want := range map[string]float64{
				`meta_cni_network_status_patches_total{result="applied"}`: 1,
				`meta_cni_network_status_patches_total{result="failed"}`:  0,
				`meta_cni_network_status_patch_retries_total`:             1,
			} {
				if got := a.metric(t, series); got != want {
					t.Errorf("%s = %v, want %v", series, got, want)
				}
			}
		})
	}
}

func TestStatusPatchRefusedAsInvalidFailsAtOnceWithAWarningEvent(t *testing.T) {
	a, up := patchThroughFake(t, http.StatusUnprocessableEntity)
	patches, events := up.state()
	if patches != 1 {
		t.Errorf("upstream got %d patches, want 1: a 422 is not retried", patches)
	}
	if len(events) != 1 || events[0].Reason != "NetworkStatusFailed" || events[0].Type != corev1.EventTypeWarning ||
		events[0].InvolvedObject.Name != "web" || events[0].InvolvedObject.UID != "4b9e0f4e-0000-4000-8000-000000000001" {
		t.Errorf("events = %+v, want one Warning NetworkStatusFailed on default/web", events)
	}
	for series, want := range map[string]float64{
		`meta_cni_network_status_patches_total{result="applied"}`: 0,
		`meta_cni_network_status_patches_total{result="failed"}`:  1,
		`meta_cni_network_status_patch_retries_total`:             0,
		`meta_cni_node_api_events_total{result="sent"}`:           1,
	} {
		if got := a.metric(t, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

// A daemon without a node name cannot check a patch another daemon left in
// the journal either: it drops it unsent, as it would refuse it new, even
// for a pod whose spec.nodeName is as empty as the daemon's node name.
func TestJournalReplayedByADaemonWithoutNodeNameIsNotSent(t *testing.T) {
	up := &fakeUpstream{codes: []int{http.StatusOK}, unscheduled: true}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	journal := filepath.Join(t.TempDir(), "network-status")
	patch := fmt.Sprintf(`{"metadata":{"uid":%q,"annotations":{%q:"[]"}}}`, fakePodUID, networkStatusKey)
	writeJournalEntry(t, journal, pendingStatus{Namespace: "default", Name: "web", UID: fakePodUID,
		Patch: json.RawMessage(patch), Since: time.Now()})
	a := serveNAPIOn(t, &rest.Config{Host: srv.URL}, "", journal)
	a.waitSettled(t, 10*time.Second)
	a.close()
	if patches, events := up.state(); patches != 0 || len(events) != 0 {
		t.Errorf("upstream got %d patches and events %+v, want none", patches, events)
	}
	if got := a.metric(t, `meta_cni_network_status_patches_total{result="failed"}`); got != 1 {
		t.Errorf("failed = %v, want 1", got)
	}
}

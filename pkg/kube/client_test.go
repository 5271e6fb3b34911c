package kube

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
)

// fakeAPI answers pod GETs from a watch cache and from "etcd", which may
// differ, and records every request.
type fakeAPI struct {
	mu       sync.Mutex
	requests []string
	cached   *Pod // served for resourceVersion=0; nil means 404
	current  *Pod // served for consistent reads; nil means 404
	status   int  // when set, every request fails with it
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
	f.mu.Unlock()
	if f.status != 0 {
		w.WriteHeader(f.status)
		_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status"}, Status: "Failure",
			Reason: metav1.StatusReasonForbidden, Code: int32(f.status), Message: "pods \"p\" is forbidden"})
		return
	}
	pod := f.current
	if r.URL.Query().Get("resourceVersion") == "0" {
		pod = f.cached
	}
	if pod == nil {
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status"}, Status: "Failure",
			Reason: metav1.StatusReasonNotFound, Code: 404})
		return
	}
	_ = json.NewEncoder(w).Encode(pod)
}

func newTestClient(t *testing.T, h http.Handler) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := NewForConfig(&rest.Config{Host: srv.URL}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pod(uid string) *Pod {
	return &Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: k8stypes.UID("uid-" + uid)}}
}

func TestGetPodIsServedFromTheWatchCacheWhenItHasThePod(t *testing.T) {
	f := &fakeAPI{cached: pod("1"), current: pod("1")}
	got, err := newTestClient(t, f).GetPod(context.Background(), "ns", "p", "uid-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.UID != "uid-1" || len(f.requests) != 1 || !strings.Contains(f.requests[0], "resourceVersion=0") {
		t.Fatalf("pod %s after requests %v, want one cache read", got.UID, f.requests)
	}
}

func TestGetPodFallsBackToAConsistentReadWhenTheCacheLags(t *testing.T) {
	cases := []struct {
		name   string
		cached *Pod
	}{
		{"cache has no such pod yet", nil},
		{"cache has the replaced pod", pod("old")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeAPI{cached: c.cached, current: pod("new")}
			got, err := newTestClient(t, f).GetPod(context.Background(), "ns", "p", "uid-new")
			if err != nil {
				t.Fatal(err)
			}
			if got.UID != "uid-new" || len(f.requests) != 2 || strings.Contains(f.requests[1], "resourceVersion") {
				t.Fatalf("pod %s after requests %v, want a cache read then a consistent one", got.UID, f.requests)
			}
		})
	}
}

func TestGetPodReportsAReplacedPodAsUIDMismatch(t *testing.T) {
	f := &fakeAPI{cached: pod("other"), current: pod("other")}
	_, err := newTestClient(t, f).GetPod(context.Background(), "ns", "p", "uid-mine")
	var mismatch *UIDMismatchError
	if !errors.As(err, &mismatch) || mismatch.Got != "uid-other" {
		t.Fatalf("error %v, want a UID mismatch naming uid-other", err)
	}
}

func TestAPIErrorsKeepTheirKind(t *testing.T) {
	_, err := newTestClient(t, &fakeAPI{status: http.StatusForbidden}).GetPod(context.Background(), "ns", "p", "")
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "get pod ns/p") {
		t.Fatalf("error %v, want a forbidden error that names the pod", err)
	}
	_, err = newTestClient(t, &fakeAPI{}).GetNetworkAttachmentDefinition(context.Background(), "ns", "missing")
	if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), "NetworkAttachmentDefinition ns/missing") {
		t.Fatalf("error %v, want not-found naming the NAD", err)
	}
}

func TestAnAPIServerThatIsDownIsUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	c, err := NewForConfig(&rest.Config{Host: srv.URL}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetPod(context.Background(), "ns", "p", "")
	if !IsUnreachable(err) {
		t.Fatalf("error %v, want unreachable", err)
	}
}

func TestSetPodAnnotationSendsAMergePatchToPodStatus(t *testing.T) {
	var method, path, ctype string
	var body map[string]any
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method, path, ctype = r.Method, r.URL.Path, r.Header.Get("Content-Type")
		_ = json.NewDecoder(r.Body).Decode(&body)
		_, _ = w.Write([]byte(`{}`))
	}))
	p := pod("1")
	if err := c.SetPodAnnotation(context.Background(), p, "k", "v"); err != nil {
		t.Fatal(err)
	}
	meta, _ := body["metadata"].(map[string]any)
	ann, _ := meta["annotations"].(map[string]any)
	if method != "PATCH" || path != "/api/v1/namespaces/ns/pods/p/status" || ctype != "application/merge-patch+json" || ann["k"] != "v" || meta["uid"] != "uid-1" {
		t.Fatalf("%s %s (%s) %v", method, path, ctype, body)
	}
}

// A 503, 429 or 504 whose body is not a failure Status (a proxy's, or a
// "Success" Status) still reads as "try later", as client-go reads it:
// taking any kind Status body made it a StatusError with code 0.
func TestATryLaterAnswerWithoutAFailureStatusReadsAsUnreachable(t *testing.T) {
	for _, body := range []string{`{"kind":"Status","apiVersion":"v1","status":"Success"}`, `{"kind":"Status"}`, `upstream timed out`} {
		for _, code := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusGatewayTimeout} {
			err := decodeResponse(code, []byte(body), "GET", "/api/v1/namespaces/ns/pods/p", podsResource, "p", &Pod{})
			if !IsUnreachable(err) {
				t.Errorf("%d %s: %v is not unreachable", code, body, err)
			}
		}
	}
	// A failure Status without a code takes the HTTP one.
	err := decodeResponse(http.StatusNotFound, []byte(`{"kind":"Status","status":"Failure","message":"gone"}`), "GET", "/p", podsResource, "p", &Pod{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("404 with a code-less failure Status: %v is not NotFound", err)
	}
}

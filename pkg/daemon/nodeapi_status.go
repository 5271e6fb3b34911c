package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/workqueue"

	"github.com/meta-cni/meta-cni/internal/atomicfile"
)

// statusGiveUp is how long a network-status patch is retried while the API
// server is unreachable or failing before it is counted as failed.
const statusGiveUp = 10 * time.Minute

// statusWorkers patch pods in parallel; one pod's patches stay in order,
// because the work queue never hands out a key that is being processed.
const statusWorkers = 2

// pendingStatus is one pod's network-status patch not yet applied, as kept
// in memory and in the journal.
type pendingStatus struct {
	Namespace string          `json:"namespace"`
	Name      string          `json:"name"`
	UID       string          `json:"uid"`
	Patch     json.RawMessage `json:"patch"`
	Since     time.Time       `json:"since"`
}

func (p *pendingStatus) key() string { return p.Namespace + "/" + p.Name }

// revalidate holds a journal entry to the rules of accept, which an older
// daemon may not have applied, and rebuilds its patch.
func (p *pendingStatus) revalidate() error {
	// accept takes only names that passed the route's checks; an entry
	// naming anything else would put its own path into the upstream URL.
	if errs := validation.IsDNS1123Label(p.Namespace); len(errs) > 0 {
		return fmt.Errorf("namespace %q: %s", p.Namespace, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(p.Name); len(errs) > 0 {
		return fmt.Errorf("pod name %q: %s", p.Name, strings.Join(errs, "; "))
	}
	sp, err := parseStatusPatch("application/merge-patch+json", p.Patch)
	if err != nil {
		return err
	}
	if sp.UID != p.UID {
		return fmt.Errorf("patch names UID %s, the entry %s", sp.UID, p.UID)
	}
	p.Patch = sp.body()
	return nil
}

// journalName is the journal file of a pod: namespaces cannot hold "_".
func (p *pendingStatus) journalName() string { return p.Namespace + "_" + p.Name + ".json" }

// statusQueue applies the plugin's network-status patches in the
// background. The plugin's ADD returns once its patch is in the journal,
// a file per pod under the host's meta-cni cache dir, so a daemon that is
// restarted or crashes picks up what it had not applied yet; a node that
// crashes loses its pods' sandboxes anyway, and the runtime's next ADD
// brings a new patch. The patch names the pod's UID, so it never lands on
// a newer pod of the same name. A patch the API server refuses is dropped
// with a Warning Event on the pod; one it could not take (see
// retryableStatus) is retried with back-off for statusGiveUp.
type statusQueue struct {
	client   *http.Client
	upstream *url.URL
	node     string // this node's name; "" refuses every patch
	dir      string
	log      *slog.Logger
	events   *eventQueue
	queue    workqueue.TypedRateLimitingInterface[string]
	workers  sync.WaitGroup
	// ctx ends when close stops waiting: requests in flight are cancelled
	// and their patches stay in the journal.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	pending map[string]*pendingStatus

	applied, failed, retries atomic.Uint64
}

func newStatusQueue(client *http.Client, upstream *url.URL, node, dir string, events *eventQueue, log *slog.Logger) (*statusQueue, error) {
	if err := privateDir(dir); err != nil {
		return nil, fmt.Errorf("node API status journal: %w", err)
	}
	q := &statusQueue{client: client, upstream: upstream, node: node, dir: dir, log: log, events: events,
		pending: map[string]*pendingStatus{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "meta_cni_network_status"})}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	q.replay()
	for i := 0; i < statusWorkers; i++ {
		q.workers.Add(1)
		go func() {
			defer q.workers.Done()
			for q.next() {
			}
		}()
	}
	return q, nil
}

// replay queues the patches a previous daemon left in the journal.
func (q *statusQueue) replay() {
	entries, err := os.ReadDir(q.dir)
	if err != nil {
		q.log.Error("node API: read status journal", "dir", q.dir, "err", err)
		return
	}
	for _, e := range entries {
		path := filepath.Join(q.dir, e.Name())
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			_ = os.Remove(path) // a temp file from an interrupted write
			continue
		}
		data, err := os.ReadFile(path)
		p := &pendingStatus{}
		if err == nil {
			err = json.Unmarshal(data, p)
		}
		if err == nil {
			err = p.revalidate()
		}
		if err == nil && p.journalName() != e.Name() {
			err = fmt.Errorf("entry is for pod %s, whose journal file is %s", p.key(), p.journalName())
		}
		if err != nil {
			q.log.Error("node API: unreadable status journal entry removed", "path", path, "err", err)
			_ = os.Remove(path)
			continue
		}
		q.pending[p.key()] = p
		q.queue.Add(p.key())
		q.log.Info("node API: resuming network-status patch from the journal", "pod", p.key(), "since", p.Since)
	}
}

// accept takes the plugin's PATCH: only a network-status patch (see
// parseStatusPatch), refused as 422 Invalid otherwise, since the daemon's
// rights to every pod's status must not be lent out wider than that. A
// daemon that does not know its node cannot check where the pod runs, so
// it refuses patches as 403 Forbidden. Whether the pod runs on this node
// is checked when the patch is applied, off ADD's path (see
// checkPlacement). A patch the journal cannot hold is applied at once.
func (q *statusQueue) accept(w http.ResponseWriter, r *http.Request) {
	pod := r.PathValue("namespace") + "/" + r.PathValue("name")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeStatus(w, http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge, "patch body: "+err.Error())
		return
	}
	sp, err := parseStatusPatch(r.Header.Get("Content-Type"), body)
	if err != nil {
		writeStatus(w, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid,
			fmt.Sprintf("pod %s: meta-cni-daemon's node API takes only the merge patch {\"metadata\":{\"uid\":...,\"annotations\":{%q:...}}} on pods/status: %v", pod, networkStatusKey, err))
		return
	}
	if q.node == "" {
		writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden,
			fmt.Sprintf("pod %s: meta-cni-daemon does not know its node (NODE_NAME is not set), so it cannot check that the pod runs on this node and refuses its network-status patch", pod))
		return
	}
	p := &pendingStatus{Namespace: r.PathValue("namespace"), Name: r.PathValue("name"), UID: sp.UID, Patch: sp.body(), Since: time.Now()}
	if q.add(p) != nil {
		q.applyNow(w, p)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Success"}`+"\n")
}

// applyNow applies p while the plugin waits, and answers with the outcome.
func (q *statusQueue) applyNow(w http.ResponseWriter, p *pendingStatus) {
	_, err := q.patch(p)
	var ue *upstreamError
	var off *notOnNodeError
	var replaced *replacedError
	switch {
	case err == nil:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Success"}`+"\n")
	case errors.As(err, &off):
		writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden, err.Error())
	case errors.As(err, &replaced):
		// As the API server answers a patch whose UID no longer matches, so
		// the plugin reports the pod as replaced (code 3).
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		_ = json.NewEncoder(w).Encode(metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status:   metav1.StatusFailure, Reason: metav1.StatusReasonInvalid, Code: http.StatusUnprocessableEntity, Message: err.Error(),
			Details: &metav1.StatusDetails{Name: p.Name, Kind: "pods", Causes: []metav1.StatusCause{
				{Type: metav1.CauseTypeFieldValueInvalid, Field: "metadata.uid", Message: err.Error()}}},
		})
	case errors.As(err, &ue):
		writeStatus(w, ue.code, "", ue.msg)
	default:
		writeStatus(w, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable,
			fmt.Sprintf("meta-cni-daemon could not reach the kube-apiserver: %v", err))
	}
}

// add journals p and queues it, replacing the pod's older patch.
func (q *statusQueue) add(p *pendingStatus) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	// No fsync: the journal outlives the daemon, not the node (see above).
	if err := atomicfile.WriteNoSync(filepath.Join(q.dir, p.journalName()), bytes.NewReader(data), 0o600, "."); err != nil {
		q.log.Warn("node API: status journal write failed; patching synchronously", "pod", p.key(), "err", err)
		return err
	}
	q.pending[p.key()] = p
	q.queue.Add(p.key())
	return nil
}

// next applies one pod's latest patch; false means the queue is shut down.
func (q *statusQueue) next() bool {
	key, shutdown := q.queue.Get()
	if shutdown {
		return false
	}
	defer q.queue.Done(key)
	q.mu.Lock()
	p := q.pending[key]
	q.mu.Unlock()
	if p == nil {
		q.queue.Forget(key)
		return true
	}
	retry, err := q.patch(p)
	switch {
	case err == nil:
		q.applied.Add(1)
		q.done(key, p)
	case retry && time.Since(p.Since) < statusGiveUp:
		q.retries.Add(1)
		q.log.Warn("node API: network-status patch will be retried", "pod", key, "err", err)
		q.queue.AddRateLimited(key)
		return true
	default:
		q.failed.Add(1)
		q.done(key, p)
		q.log.Error("node API: network-status patch failed", "pod", key, "podUID", p.UID, "err", err)
		// Neither a pod that is gone nor another node's pod gets an Event
		// from this node.
		var se *upstreamError
		var off *notOnNodeError
		if !errors.As(err, &off) && (!errors.As(err, &se) || se.code != http.StatusNotFound) {
			q.warn(p, err)
		}
	}
	q.queue.Forget(key)
	return true
}

// done forgets p, unless a newer patch for the pod came in meanwhile.
func (q *statusQueue) done(key string, p *pendingStatus) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pending[key] != p {
		return
	}
	delete(q.pending, key)
	if err := os.Remove(filepath.Join(q.dir, p.journalName())); err != nil && !errors.Is(err, os.ErrNotExist) {
		q.log.Warn("node API: remove status journal entry", "pod", key, "err", err)
	}
}

// patch applies p once its pod is found to run on this node.
func (q *statusQueue) patch(p *pendingStatus) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(q.ctx, 30*time.Second)
	defer cancel()
	if retry, err := checkPlacement(ctx, q.client, q.upstream, q.node, p); err != nil {
		return retry, err
	}
	path := fmt.Sprintf("/api/v1/namespaces/%s/pods/%s/status", p.Namespace, p.Name)
	return writeUpstream(ctx, q.client, q.upstream, http.MethodPatch, path, "application/merge-patch+json", p.Patch)
}

// upstreamError is the API server's answer to a write it did not take.
type upstreamError struct {
	code int
	msg  string
}

func (e *upstreamError) Error() string { return e.msg }

// writeUpstream sends one of the queues' background writes to the API
// server. retry says whether it may take it later: no answer at all, or
// see retryableStatus.
func writeUpstream(ctx context.Context, client *http.Client, upstream *url.URL, method, path, contentType string, body []byte) (retry bool, err error) {
	u := *upstream
	u.Path = path
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := client.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	msg := strings.TrimSpace(string(answer))
	var st metav1.Status
	if json.Unmarshal(answer, &st) == nil && st.Message != "" {
		msg = st.Message
	}
	return retryableStatus(resp.StatusCode), &upstreamError{code: resp.StatusCode, msg: fmt.Sprintf("%s: %s", resp.Status, msg)}
}

// retryableStatus reports whether the API server may take later what it
// answered with code now: it was overloaded or failing (429, 5xx), or it
// could not yet tell who the daemon is or what it may do (401, 403), as a
// kube-apiserver that is starting answers until its authenticator and
// RBAC caches are filled, and as one answers a token it has not seen
// rotate yet. A patch that is really forbidden fails once statusGiveUp
// has passed.
func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code >= 500 ||
		code == http.StatusUnauthorized || code == http.StatusForbidden
}

// warn records a Warning Event on the pod that its network-status is
// missing, through the Event queue.
func (q *statusQueue) warn(p *pendingStatus, cause error) {
	now := metav1.NewTime(time.Now())
	ev := corev1.Event{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: p.Name + ".", Namespace: p.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: p.Namespace, Name: p.Name,
			UID: types.UID(p.UID)},
		Reason: "NetworkStatusFailed", Type: corev1.EventTypeWarning,
		Message:        "meta-cni could not set the k8s.v1.cni.cncf.io/network-status annotation: " + cause.Error(),
		Source:         corev1.EventSource{Component: "meta-cni"},
		FirstTimestamp: now, LastTimestamp: now, Count: 1, ReportingController: "meta-cni",
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return
	}
	q.events.enqueue(queuedEvent{path: fmt.Sprintf("/api/v1/namespaces/%s/events", p.Namespace), body: body})
}

// close waits until every pending patch is applied or given up, or ctx
// ends; what is still pending stays in the journal for the next daemon.
func (q *statusQueue) close(ctx context.Context) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for q.pendingCount() > 0 && ctx.Err() == nil {
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	q.cancel()
	q.queue.ShutDown()
	q.workers.Wait()
}

func (q *statusQueue) pendingCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

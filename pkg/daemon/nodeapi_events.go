package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// eventQueueSize bounds the Events waiting to be sent. A node starts far
// fewer pods a second than this; past it, Events are dropped and counted
// rather than holding up a pod's ADD.
const eventQueueSize = 512

// eventRetries are the waits before each new attempt at an Event the API
// server did not take because it was unreachable, overloaded, failing or
// not yet ready to authorize it (see retryableStatus).
var eventRetries = []time.Duration{200 * time.Millisecond, time.Second, 5 * time.Second}

type queuedEvent struct {
	path string
	body []byte
}

// eventQueue sends the plugin's Events to the API server in the background.
type eventQueue struct {
	client   *http.Client
	upstream *url.URL
	log      *slog.Logger
	queue    chan queuedEvent
	done     chan struct{}
	// ctx ends when close gives up on the queue: sends in flight are
	// cancelled and what is left is counted as failed.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.RWMutex // guards closed against a send on a closed queue
	closed bool

	queued, sent, failed, dropped atomic.Uint64
}

func newEventQueue(client *http.Client, upstream *url.URL, log *slog.Logger) *eventQueue {
	q := &eventQueue{client: client, upstream: upstream, log: log,
		queue: make(chan queuedEvent, eventQueueSize), done: make(chan struct{})}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	go q.run()
	return q
}

// accept takes the plugin's POST and answers 202 once the Event is queued.
func (q *eventQueue) accept(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeStatus(w, http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge, "event body: "+err.Error())
		return
	}
	if !q.enqueue(queuedEvent{path: r.URL.Path, body: body}) {
		writeStatus(w, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, "meta-cni-daemon is stopping")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Success"}`+"\n")
}

// enqueue queues ev without waiting; false means the queue is closed. A
// full queue drops ev and counts it.
func (q *eventQueue) enqueue(ev queuedEvent) bool {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return false
	}
	// Counted before the send, so Idle never sees it sent but not queued.
	q.queued.Add(1)
	select {
	case q.queue <- ev:
	default:
		q.queued.Add(^uint64(0))
		q.dropped.Add(1)
		q.log.Warn("node API: event queue full; event dropped", "request", "POST "+ev.path)
	}
	return true
}

func (q *eventQueue) run() {
	defer close(q.done)
	for ev := range q.queue {
		if q.ctx.Err() != nil {
			q.failed.Add(1)
			continue
		}
		if err := q.send(ev); err != nil {
			q.failed.Add(1)
			q.log.Warn("node API: event not recorded", "request", "POST "+ev.path, "err", err)
			continue
		}
		q.sent.Add(1)
	}
}

// send posts one Event, retrying only what may succeed later.
func (q *eventQueue) send(ev queuedEvent) error {
	var err error
	for attempt := 0; ; attempt++ {
		var retry bool
		if retry, err = q.post(ev); err == nil || !retry || attempt == len(eventRetries) {
			return err
		}
		select {
		case <-time.After(eventRetries[attempt]):
		case <-q.ctx.Done():
			return fmt.Errorf("daemon stopping: %w", err)
		}
	}
}

func (q *eventQueue) post(ev queuedEvent) (retry bool, err error) {
	return writeUpstream(q.ctx, q.client, q.upstream, http.MethodPost, ev.path, "application/json", ev.body)
}

// close stops accepting Events and sends what is queued until ctx ends;
// what is left then is counted as failed.
func (q *eventQueue) close(ctx context.Context) {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.queue)
	}
	q.mu.Unlock()
	select {
	case <-q.done:
	case <-ctx.Done():
		q.cancel()
		<-q.done
	}
	q.cancel()
}

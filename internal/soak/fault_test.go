package soak

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// faultWindow times a churn's ADDs and DELs against one fault: which
// ended while it lasted, by code, and when the first ADD started after
// it began succeeded. It also fires the fault once enough ADDs ended.
type faultWindow struct {
	mu         sync.Mutex
	start, end time.Time // zero until the fault begins, ends
	adds, dels map[string]int
	failed     testenv.Latencies
	firstOK    time.Time // end of the first ADD started after start that succeeded
	ended      int
	after      int
	fire       chan struct{}
}

// newFaultWindow fires once after ADDs have ended.
func newFaultWindow(after int) *faultWindow {
	return &faultWindow{adds: map[string]int{}, dels: map[string]int{}, after: max(after, 1), fire: make(chan struct{})}
}

// observe is a sandboxPolicy's observe.
func (w *faultWindow) observe(_ *podRun, end time.Time, took time.Duration, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended++; w.ended == w.after {
		close(w.fire)
	}
	if w.start.IsZero() {
		return
	}
	if end.After(w.start) && (w.end.IsZero() || end.Before(w.end)) {
		w.adds[outcome(err)]++
		if err != nil {
			w.failed = append(w.failed, took)
		}
	}
	if err == nil && end.Add(-took).After(w.start) && (w.firstOK.IsZero() || end.Before(w.firstOK)) {
		w.firstOK = end
	}
}

// observeDel counts a DEL started while the fault lasted, apart when it
// ended only after the fault did.
func (w *faultWindow) observeDel(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := outcome(err)
	if !w.end.IsZero() {
		k += " (ended after it)"
	}
	w.dels[k]++
}

func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	return cniCode(err)
}

func (w *faultWindow) begin() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.start = time.Now()
	return w.start
}

func (w *faultWindow) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.end = time.Now()
}

// during reports whether the fault has begun and not yet ended.
func (w *faultWindow) during() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.start.IsZero() && w.end.IsZero()
}

// fill puts the window's figures in r.
func (w *faultWindow) fill(r *Result) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r.FaultMs = float64(w.end.Sub(w.start).Milliseconds())
	r.FaultAdds = w.adds
	if len(w.dels) > 0 {
		r.FaultDels = w.dels
	}
	r.FaultFailP50Ms, r.FaultFailP95Ms = w.failed.Percentile(0.50), w.failed.Percentile(0.95)
	r.FailedForMs = -1
	if !w.firstOK.IsZero() {
		r.FailedForMs = float64(w.firstOK.Sub(w.start).Milliseconds())
	}
}

// fault is one fault a churn suffers: inject breaks something, during
// runs while it is broken (DELs of running pods), restore mends it once
// down has passed since inject.
type fault struct {
	inject, restore func() error
	during          func() error
	down            time.Duration
}

// churnWithFault ADDs pods as the kubelets do: the first half at once,
// and once the window fires (half of their ADDs ended, the rest in
// flight) the fault is injected and the second half starts, so some ADDs
// are in flight at the fault and others start during it. It returns
// once every ADD ended and the fault is restored.
func churnWithFault(c *cluster, pods []*podRun, policy sandboxPolicy, w *faultWindow, f fault) (*phase, error) {
	policy.observe = w.observe
	first, second := pods[:len(pods)/2], pods[len(pods)/2:]
	start := time.Now()
	var (
		mu        sync.Mutex
		phases    []*phase
		errs      []error
		wg        sync.WaitGroup
		firstDone = make(chan struct{})
	)
	run := func(batch []*podRun) {
		defer wg.Done()
		ph, err := addPods(c, batch, policy)
		mu.Lock()
		defer mu.Unlock()
		if ph != nil {
			phases = append(phases, ph)
		}
		errs = append(errs, err)
	}
	wg.Add(1)
	go func() { run(first); close(firstDone) }()
	select {
	case <-w.fire:
	case <-firstDone:
		wg.Wait()
		return withWall(mergePhases(phases), time.Since(start)), fmt.Errorf("the first %d pods' ADDs all ended before %d had: no fault was injected", len(first), w.after)
	}
	err := f.inject()
	injected := w.begin()
	wg.Add(1)
	go run(second)
	// The fault ends on time even when what runs during it hangs on it.
	duringErr := make(chan error, 1)
	go func() {
		if err != nil || f.during == nil {
			duringErr <- nil
			return
		}
		duringErr <- f.during()
	}()
	time.Sleep(time.Until(injected.Add(f.down)))
	err = errors.Join(err, f.restore())
	w.finish()
	err = errors.Join(err, <-duringErr)
	wg.Wait()
	return withWall(mergePhases(phases), time.Since(start)), errors.Join(append(errs, err)...)
}

// etcdLeader is the member that etcd's own status names as leader: the
// one whose member ID is the leader its peers report.
func etcdLeader(ctx context.Context, ec *testenv.EtcdCluster) (*testenv.EtcdMember, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: ec.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	defer cli.Close()
	for _, m := range ec.Members {
		if !m.Running() {
			continue
		}
		st, err := cli.Status(ctx, m.ClientURL)
		if err != nil {
			return nil, fmt.Errorf("status of etcd member %s: %w", m.Name, err)
		}
		if st.Leader != 0 && st.Leader == st.Header.MemberId {
			return m, nil
		}
	}
	return nil, errors.New("no running etcd member says it leads")
}

// waitEtcdHealthy waits until every member answers its status and all
// name the same leader: a restarted member has caught up with the rest.
func waitEtcdHealthy(ec *testenv.EtcdCluster, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cli, err := clientv3.New(clientv3.Config{Endpoints: ec.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("etcd client: %w", err)
	}
	defer cli.Close()
	var last error
	for ctx.Err() == nil {
		last = nil
		leaders := map[uint64]bool{}
		for _, m := range ec.Members {
			sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
			st, err := cli.Status(sctx, m.ClientURL)
			scancel()
			if err != nil {
				last = fmt.Errorf("status of etcd member %s: %w", m.Name, err)
				break
			}
			leaders[st.Leader] = true
		}
		if last == nil && len(leaders) == 1 && !leaders[0] {
			return nil
		}
		if last == nil {
			last = fmt.Errorf("etcd members name leaders %v", leaders)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("etcd not healthy after %s: %w", timeout, last)
}

// restartMember starts a killed member again on its ports and data and
// waits until the cluster is whole.
func restartMember(ec *testenv.EtcdCluster, m *testenv.EtcdMember) error {
	if !m.Running() {
		if err := m.Start(); err != nil {
			return fmt.Errorf("restart etcd member %s: %w", m.Name, err)
		}
	}
	return waitEtcdHealthy(ec, time.Minute)
}

// waitAPIServerReady polls the API server's /readyz: after its etcd
// comes back it serves again without a restart.
func waitAPIServerReady(k *testenv.Kube, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var err error
	for ctx.Err() == nil {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = k.Clientset().Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(rctx)
		rcancel()
		if err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("kube-apiserver not ready after %s: %w", timeout, err)
}

// faultDowntime is how long a fault lasts: the figure under
// SOAK=full, a shorter one in make test's scaled run.
func faultDowntime(c *cluster, scaled, full time.Duration) time.Duration {
	if c.scale.Name == "full" {
		return full
	}
	return scaled
}

package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaseName is the coordination.k8s.io Lease that elects the one daemon of
// the cluster that runs the IPAM reconciler.
const LeaseName = "meta-cni-ipam-reconciler"

// Election says where the Lease lives and who this daemon is. Zero
// durations take client-go's usual 15s/10s/2s.
type Election struct {
	Client        kubernetes.Interface
	Namespace     string
	Identity      string
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
}

// passTimeout bounds one pass, so a hung etcd or API server cannot keep a
// leader from ever starting the next one.
const passTimeout = 2 * time.Minute

// LeadReconciler campaigns for the Lease until ctx ends and, while this
// daemon leads, runs a pass at once and then every interval. leader is set
// while it leads. Losing the Lease cancels the pass under way; two leaders
// overlapping for a moment are safe, since every release is guarded by the
// owner's ModRevision.
func LeadReconciler(ctx context.Context, el Election, r *Reconciler, interval time.Duration, leader *atomic.Bool, log *slog.Logger) error {
	lec := leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: el.Namespace, Name: LeaseName},
			Client:     el.Client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: el.Identity},
		},
		LeaseDuration:   orDefault(el.LeaseDuration, 15*time.Second),
		RenewDeadline:   orDefault(el.RenewDeadline, 10*time.Second),
		RetryPeriod:     orDefault(el.RetryPeriod, 2*time.Second),
		ReleaseOnCancel: true,
		Name:            LeaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				leader.Store(true)
				log.Info("leading the ipam reconciler", "lease", el.Namespace+"/"+LeaseName, "identity", el.Identity)
				if r.Pools != nil {
					counted := make(chan struct{})
					go func() { defer close(counted); r.Pools.run(ctx) }()
					defer func() { <-counted }()
				}
				runPasses(ctx, r, interval, log)
			},
			OnStoppedLeading: func() {
				leader.Store(false)
				log.Info("stopped leading the ipam reconciler", "identity", el.Identity)
			},
		},
	}
	elector, err := leaderelection.NewLeaderElector(lec)
	if err != nil {
		return fmt.Errorf("leader election on lease %s/%s: %w", el.Namespace, LeaseName, err)
	}
	// Run returns when the Lease is lost; campaign again until ctx ends.
	for ctx.Err() == nil {
		elector.Run(ctx)
	}
	return nil
}

func runPasses(ctx context.Context, r *Reconciler, interval time.Duration, log *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, min(interval, passTimeout))
		released, err := r.Pass(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			log.Error("ipam reconcile pass", "released", len(released), "err", err)
		} else {
			log.Debug("ipam reconcile pass", "released", len(released))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

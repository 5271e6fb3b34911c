// Package daemon is meta-cni's node agent: it installs the plugin binaries,
// credentials and conflist on the host, keeps the plugin's ServiceAccount
// token fresh as the kubelet rotates it, serves health and metrics, and,
// when elected, releases the etcd-ipam allocations of pods that are gone.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// Version is reported by meta_cni_daemon_info; release builds set it with
// -ldflags "-X github.com/meta-cni/meta-cni/pkg/daemon.Version=v1.2.3".
var Version = moduleVersion()

func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "unknown"
}

// Daemon is one node's agent.
type Daemon struct {
	cfg Config
	log *slog.Logger

	installedAt        atomic.Int64 // Unix nanoseconds; 0 until installed
	tokenRefreshes     atomic.Uint64
	tokenRefreshErrors atomic.Uint64

	reconciler           atomic.Pointer[Reconciler] // nil while the reconciler is off
	reconcileLeader      atomic.Bool
	reconcileSetupErrors atomic.Uint64

	// onWrite, when set by a test, sees every file the daemon writes.
	onWrite func(path string)
}

// New checks cfg and returns a daemon that has not installed anything yet.
func New(cfg Config, log *slog.Logger) (*Daemon, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Daemon{cfg: cfg, log: log}, nil
}

func (d *Daemon) written(path string) {
	if d.onWrite != nil {
		d.onWrite(path)
	}
}

// Ready reports whether the install has finished.
func (d *Daemon) Ready() bool { return d.installedAt.Load() != 0 }

// Handler serves /metrics, /healthz and /readyz.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !d.Ready() {
			http.Error(w, "install not finished", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		if err := writeMetrics(w, d.collect()); err != nil {
			d.log.Debug("write metrics", "err", err)
		}
	})
	return mux
}

// Run installs, then refreshes credentials and serves metrics until ctx is
// done. With Once it only installs. The metrics server starts before the
// install, so /healthz answers while a slow copy is under way.
func (d *Daemon) Run(ctx context.Context) error {
	if d.cfg.Once {
		return d.Install()
	}
	serveErr := make(chan error, 1)
	if d.cfg.MetricsAddress != "" {
		ln, err := net.Listen("tcp", d.cfg.MetricsAddress)
		if err != nil {
			return fmt.Errorf("listen for metrics on %s: %w", d.cfg.MetricsAddress, err)
		}
		srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { serveErr <- srv.Serve(ln) }()
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		d.log.Info("serving metrics", "address", ln.Addr().String())
	}
	if err := d.Install(); err != nil {
		return err
	}
	// The reconciler stops before Run returns, so the Lease is given up.
	rctx, stopReconciler := context.WithCancel(ctx)
	waitReconciler := d.startReconciler(rctx)
	defer func() {
		stopReconciler()
		waitReconciler()
	}()
	tick := time.NewTicker(d.cfg.TokenRefreshInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			d.log.Info("stopping", "cause", context.Cause(ctx))
			if d.cfg.CleanupOnExit {
				return d.Uninstall()
			}
			return nil
		case err := <-serveErr:
			if !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve metrics: %w", err)
			}
		case <-tick.C:
			d.RefreshCredentials()
		}
	}
}

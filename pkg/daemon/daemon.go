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
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

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

	nodeAPI atomic.Pointer[NodeAPI] // nil while the node API is off

	// cluster is the cluster network conf auto mode chose and the installed
	// conflist names; nil when the chart's conflist names its own. Only the
	// goroutine running Install or Run touches it.
	cluster *clusterConf
	// clusterGone is set once the daemon has said the conf dir lost every
	// cluster network conf, so it says so once.
	clusterGone bool

	// pools is the last count of etcd-ipam pools, while this daemon leads.
	pools    poolUsage
	registry *prometheus.Registry

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
	d := &Daemon{cfg: cfg, log: log}
	d.registry = d.newRegistry()
	return d, nil
}

func (d *Daemon) written(path string) {
	if d.onWrite != nil {
		d.onWrite(path)
	}
}

// Ready reports whether the install has finished.
func (d *Daemon) Ready() bool { return d.installedAt.Load() != 0 }

// Gatherer is what /metrics serves, for callers in the same process.
func (d *Daemon) Gatherer() prometheus.Gatherer { return d.registry }

// Handler serves /metrics, /healthz and /readyz.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if d.nodeAPI.Load() != nil {
			if err := probeNodeAPI(r.Context(), d.cfg.NodeAPISocket); err != nil {
				http.Error(w, "node API socket does not answer: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !d.Ready() {
			http.Error(w, "install not finished", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.registry, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelWarn), ErrorHandling: promhttp.ContinueOnError}))
	return mux
}

// Run installs, then refreshes credentials and serves metrics until ctx is
// done. With Once it only installs. The metrics server starts before the
// install, so /healthz answers while a slow copy is under way.
func (d *Daemon) Run(ctx context.Context) error {
	if d.cfg.Once {
		return d.install(ctx, nil)
	}
	serveErr := make(chan error, 2)
	if d.cfg.MetricsAddress != "" {
		ln, err := net.Listen("tcp", d.cfg.MetricsAddress)
		if err != nil {
			return fmt.Errorf("listen for metrics on %s: %w", d.cfg.MetricsAddress, err)
		}
		srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { serveErr <- fmt.Errorf("serve metrics: %w", srv.Serve(ln)) }()
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		d.log.Info("serving metrics", "address", ln.Addr().String())
	}
	// The socket is up before the conflist that names it is installed.
	if d.cfg.NodeAPISocket != "" {
		stop, err := d.startNodeAPI(serveErr)
		if err != nil {
			return err
		}
		defer stop()
	}
	// Watching starts before the wait, so no conf written meanwhile is missed.
	var confChanges <-chan struct{}
	if d.autoClusterNetwork() {
		w, err := watchConfDir(d.cfg.CNIConfDir, d.cfg.ConfName, d.log)
		if err != nil {
			return err
		}
		defer w.Stop()
		confChanges = w.C
	}
	if err := d.install(ctx, confChanges); err != nil {
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
				return err
			}
		case <-confChanges:
			d.syncClusterConf()
		case <-tick.C:
			d.RefreshCredentials()
			// A lost inotify event costs at most one refresh interval.
			if d.cluster != nil {
				d.syncClusterConf()
			}
		}
	}
}

// startNodeAPI serves the plugin's API calls on the socket until the
// returned func is called.
func (d *Daemon) startNodeAPI(serveErr chan<- error) (stop func(), err error) {
	cfg, err := d.cfg.restConfig()
	if err != nil {
		return nil, fmt.Errorf("node API: %w", err)
	}
	// The journal sits next to the socket: the cache dir is mounted
	// read-only, and the socket dir is on the host's tmpfs, which a reboot,
	// the one thing that should empty it, does.
	node := d.cfg.nodeName()
	if node == "" {
		d.log.Error("node API: NODE_NAME is not set, so network-status patches are refused: set it from spec.nodeName, as the chart does")
	}
	n, err := NewNodeAPI(cfg, node, filepath.Join(filepath.Dir(d.cfg.NodeAPISocket), "network-status"), d.log)
	if err != nil {
		return nil, err
	}
	s, err := serveNodeAPI(d.cfg.NodeAPISocket, n)
	if err != nil {
		n.Close(context.Background())
		return nil, err
	}
	d.nodeAPI.Store(n)
	go func() {
		if err := <-s.done; !errors.Is(err, http.ErrServerClosed) {
			serveErr <- fmt.Errorf("serve node API: %w", err)
		}
	}()
	d.log.Info("serving the node API", "socket", d.cfg.NodeAPISocket, "apiServer", cfg.Host)
	return func() {
		s.close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.Close(ctx)
	}, nil
}

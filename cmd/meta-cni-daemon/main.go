// Command meta-cni-daemon is the node agent the chart's DaemonSet runs. It
// only turns flags into a daemon.Config and runs pkg/daemon until SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/meta-cni/meta-cni/pkg/daemon"
	"github.com/meta-cni/meta-cni/pkg/ipam"
	"github.com/meta-cni/meta-cni/pkg/pluginlog"
	"github.com/meta-cni/meta-cni/pkg/release"
)

// logFlags are how the daemon logs, and --version; they are not part of
// daemon.Config.
type logFlags struct {
	format, level string
	version       bool
}

// newLogger is the daemon's logger on stderr: JSON by default, so a log
// pipeline reads each line's time, level, msg and keys without parsing.
func (l logFlags) newLogger(stderr io.Writer) (*slog.Logger, error) {
	level, err := pluginlog.ParseLevel(l.level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch l.format {
	case "json":
		return slog.New(slog.NewJSONHandler(stderr, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not json or text", l.format)
}

func newFlags(cfg *daemon.Config, logs *logFlags, output io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("meta-cni-daemon", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&cfg.SourceBinDir, "source-bin-dir", "/opt/meta-cni/bin", "binaries shipped in the image, copied to --cni-bin-dir")
	fs.StringVar(&cfg.CNIBinDir, "cni-bin-dir", "/host/opt/cni/bin", "the host's CNI plugin dir, as mounted in the container")
	fs.StringVar(&cfg.CNIConfDir, "cni-conf-dir", "/host/etc/cni/net.d", "the host's CNI conf dir, as mounted in the container")
	fs.StringVar(&cfg.HostCNIConfDir, "host-cni-conf-dir", "/etc/cni/net.d", "the same conf dir as the host sees it; paths written into files the plugin reads")
	fs.StringVar(&cfg.ConfFile, "conf-file", "/etc/meta-cni/meta-cni.conflist", "meta-cni's conflist; its \"kubeconfig\" is replaced by the generated one's host path")
	fs.StringVar(&cfg.ConfName, "conf-name", "00-meta-cni.conflist", "file name the conflist is installed as in --cni-conf-dir")
	fs.StringVar(&cfg.EtcdSecretDir, "etcd-secret-dir", "/etc/meta-cni/etcd", "etcd TLS files and endpoints, copied to <cni-conf-dir>/meta-cni.d/etcd/; skipped when absent")
	fs.StringVar(&cfg.TokenFile, "token-file", "/var/run/secrets/kubernetes.io/serviceaccount/token", "projected ServiceAccount token")
	fs.StringVar(&cfg.CAFile, "ca-file", "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", "API server CA bundle")
	fs.StringVar(&cfg.APIServer, "api-server", "", "API server URL for the kubeconfig (default https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)")
	fs.StringVar(&cfg.CacheDir, "cache-dir", "/host/var/lib/meta-cni", "meta-cni's cacheDir, read for metrics")
	fs.StringVar(&cfg.MetricsAddress, "metrics-address", ":9091", "address serving /metrics, /healthz and /readyz")
	fs.DurationVar(&cfg.TokenRefreshInterval, "token-refresh-interval", time.Minute, "how often the token is checked for rotation")
	fs.BoolVar(&cfg.CleanupOnExit, "cleanup-on-exit", false, "remove the installed conflist on SIGTERM")
	fs.BoolVar(&cfg.Once, "once", false, "install and exit")
	fs.DurationVar(&cfg.IPAMReconcileInterval, "ipam-reconcile-interval", 5*time.Minute, "how often the elected daemon releases etcd-ipam allocations of pods that no longer exist; 0 disables it")
	fs.DurationVar(&cfg.IPAMReconcileGrace, "ipam-reconcile-grace", 10*time.Minute, "an allocation younger than this is never released by the reconciler")
	fs.StringVar(&cfg.IPAMEtcdPrefix, "ipam-etcd-prefix", ipam.DefaultPrefix, "etcd-ipam's key prefix (its ipam.etcd.prefix) that the reconciler scans")
	fs.DurationVar(&cfg.IPAMPoolCountInterval, "ipam-pool-count-interval", time.Minute, "how often the reconciler's leader counts the etcd-ipam pools that NetworkAttachmentDefinitions name, for meta_cni_ipam_pool_addresses; 0 disables it")
	fs.DurationVar(&cfg.ClusterNetworkTimeout, "cluster-network-timeout", 10*time.Minute, "when the conflist names no clusterNetwork, how long to wait for a cluster network conf in --cni-conf-dir before exiting with an error; 0 waits for ever")
	fs.StringVar(&logs.format, "log-format", "json", "json (one object per line, with time, level and msg) or text (slog's key=value)")
	fs.StringVar(&logs.level, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&logs.version, "version", false, "print the version and exit")
	fs.StringVar(&cfg.NodeAPISocket, "node-api-socket", "", "serve the plugin's API calls on this unix socket and name it in the conflist as \"daemonSocket\"; the same path in the container and on the host; its directory also holds the network-status journal; empty turns it off")
	return fs
}

func main() {
	var cfg daemon.Config
	var logs logFlags
	if err := newFlags(&cfg, &logs, os.Stderr).Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if logs.version {
		fmt.Println("meta-cni-daemon", release.Version)
		return
	}
	log, err := logs.newLogger(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "meta-cni-daemon:", err)
		os.Exit(2)
	}
	d, err := daemon.New(cfg, log)
	if err != nil {
		log.Error("invalid flags", "err", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := d.Run(ctx); err != nil {
		log.Error("meta-cni-daemon failed", "err", err)
		stop()
		os.Exit(1)
	}
	log.Info("meta-cni-daemon exited")
}

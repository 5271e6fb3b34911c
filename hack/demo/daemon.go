package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/daemon"
)

// nodeDaemon is meta-cni-daemon as the chart runs it on one node: it
// installs the plugins and the conflist, serves the node API, and, elected
// on its Lease, reconciles and counts the etcd-ipam pools.
type nodeDaemon struct {
	d        *daemon.Daemon
	conflist string // the installed conflist, as the runtime reads it
	socket   string
	stop     func() error
}

// startDaemon lays out what the DaemonSet's pod would see (the image's
// binaries, the ConfigMap's conflist, the etcd Secret, the projected
// ServiceAccount token) and runs the daemon until stop is called.
func startDaemon(kube *testenv.Kube, dir, confDir, cniPath string, etcdEndpoints []string, metaConf string) (*nodeDaemon, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	rules, err := testenv.ChartRBACRules()
	if err != nil {
		return nil, err
	}
	// The chart grants the Lease through a Role in its namespace.
	rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"},
		Verbs: []string{"get", "create", "update"}})
	kubeconfig, err := kube.ServiceAccountKubeconfig(dir, "kube-system", "meta-cni", rules)
	if err != nil {
		return nil, err
	}
	raw, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		return nil, err
	}
	sa := filepath.Join(dir, "serviceaccount")
	image := filepath.Join(dir, "image-bin")
	etcd := filepath.Join(dir, "etcd-secret")
	for _, d := range []string{sa, image, etcd, filepath.Join(dir, "run")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{"meta-cni", "etcd-ipam", "host-route"} {
		if err := os.Symlink(filepath.Join(cniPath, name), filepath.Join(image, name)); err != nil {
			return nil, err
		}
	}
	files := map[string]string{
		filepath.Join(sa, "token"):              raw.AuthInfos["meta-cni"].Token,
		filepath.Join(etcd, "endpoints"):        strings.Join(etcdEndpoints, ","),
		filepath.Join(dir, "meta-cni.conflist"): metaConf,
	}
	for path, content := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return nil, err
		}
	}
	socket := filepath.Join(dir, "run", "node-api.sock")
	cfg := daemon.Config{
		SourceBinDir: image, CNIBinDir: filepath.Join(dir, "host-bin"), CNIConfDir: confDir, HostCNIConfDir: confDir,
		ConfFile: filepath.Join(dir, "meta-cni.conflist"), ConfName: "00-meta-cni.conflist", EtcdSecretDir: etcd,
		TokenFile: filepath.Join(sa, "token"), CAFile: kube.CAFile, APIServer: kube.URL, CacheDir: filepath.Join(dir, "cache"),
		TokenRefreshInterval: time.Minute, NodeAPISocket: socket,
		IPAMReconcileInterval: 5 * time.Minute, IPAMReconcileGrace: 10 * time.Minute, IPAMEtcdPrefix: demoPrefix,
		// A demo wants its figures now; the chart counts every minute.
		IPAMPoolCountInterval: time.Second,
	}
	os.Setenv("POD_NAMESPACE", "kube-system")
	os.Setenv("NODE_NAME", "node-1")
	logFile, err := os.Create(filepath.Join(dir, "meta-cni-daemon.log"))
	if err != nil {
		return nil, err
	}
	d, err := daemon.New(cfg, slog.New(slog.NewJSONHandler(logFile, nil)))
	if err != nil {
		logFile.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan error, 1)
	go func() { exited <- d.Run(ctx) }()
	var once sync.Once
	var runErr error
	nd := &nodeDaemon{d: d, conflist: filepath.Join(confDir, cfg.ConfName), socket: socket, stop: func() error {
		once.Do(func() {
			cancel()
			runErr = <-exited
			logFile.Close()
		})
		return runErr
	}}
	for deadline := time.Now().Add(30 * time.Second); !d.Ready(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			nd.stop()
			return nil, fmt.Errorf("meta-cni-daemon did not install within 30s (log %s)", logFile.Name())
		}
	}
	return nd, nil
}

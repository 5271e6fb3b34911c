package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	nadclient "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/client/clientset/versioned"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/client-go/kubernetes"

	"github.com/meta-cni/meta-cni/pkg/ipam"
	"github.com/meta-cni/meta-cni/pkg/ipam/etcdv3"
)

// errReconcilerOff says the reconciler has nothing to work with; it is
// logged once, not counted as an error.
var errReconcilerOff = errors.New("ipam reconciler off")

// startReconciler sets up the etcd and API clients and campaigns for the
// reconciler's Lease in the background. The returned func waits, briefly,
// for the Lease to be given up after ctx ends.
func (d *Daemon) startReconciler(ctx context.Context) (wait func()) {
	noop := func() {}
	el, r, closeEtcd, err := d.reconcilerSetup()
	if errors.Is(err, errReconcilerOff) {
		d.log.Info("ipam reconciler off", "reason", err.Error())
		return noop
	}
	if err != nil {
		d.reconcileSetupErrors.Add(1)
		d.log.Error("ipam reconciler not started", "err", err)
		return noop
	}
	d.reconciler.Store(r)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer closeEtcd()
		if err := LeadReconciler(ctx, el, r, d.cfg.IPAMReconcileInterval, &d.reconcileLeader, d.log); err != nil {
			d.reconcileSetupErrors.Add(1)
			d.log.Error("ipam reconciler stopped", "err", err)
		}
	}()
	d.log.Info("ipam reconciler campaigning", "lease", el.Namespace+"/"+LeaseName, "identity", el.Identity,
		"interval", d.cfg.IPAMReconcileInterval, "grace", d.cfg.IPAMReconcileGrace, "prefix", r.storePrefix())
	return func() {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			d.log.Warn("ipam reconciler did not stop within 5s")
		}
	}
}

func (r *Reconciler) storePrefix() string {
	if s, ok := r.Store.(*ipam.Store); ok {
		return s.Prefix
	}
	return ""
}

// reconcilerSetup reads the etcd Secret's files and the ServiceAccount's
// credentials. The etcd client is gRPC and kept warm: the daemon is
// long-lived, unlike the plugin.
func (d *Daemon) reconcilerSetup() (Election, *Reconciler, func(), error) {
	var el Election
	c := d.cfg
	if c.IPAMReconcileInterval == 0 {
		return el, nil, nil, fmt.Errorf("%w: --ipam-reconcile-interval is 0", errReconcilerOff)
	}
	eps, err := etcdEndpoints(c.EtcdSecretDir)
	if err != nil {
		return el, nil, nil, err
	}
	if len(eps) == 0 {
		return el, nil, nil, fmt.Errorf("%w: no etcd endpoints in %s", errReconcilerOff, filepath.Join(c.EtcdSecretDir, "endpoints"))
	}
	el.Namespace = os.Getenv("POD_NAMESPACE")
	if el.Namespace == "" {
		return el, nil, nil, fmt.Errorf("%w: POD_NAMESPACE is not set, so there is no namespace for the lease", errReconcilerOff)
	}
	// Cloned machines share a hostname; two daemons under one identity
	// would both believe they hold the Lease.
	if el.Identity = c.nodeName(); el.Identity == "" {
		return el, nil, nil, fmt.Errorf("%w: NODE_NAME is not set, so the daemon has no identity for the lease", errReconcilerOff)
	}
	tlsCfg, err := etcdTLS(c.EtcdSecretDir, eps)
	if err != nil {
		return el, nil, nil, err
	}
	restCfg, err := c.restConfig()
	if err != nil {
		return el, nil, nil, err
	}
	el.Client, err = kubernetes.NewForConfig(restCfg)
	if err != nil {
		return el, nil, nil, fmt.Errorf("kube client for %s: %w", restCfg.Host, err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, TLS: tlsCfg, DialTimeout: 5 * time.Second})
	if err != nil {
		return el, nil, nil, fmt.Errorf("etcd client for %v: %w", eps, err)
	}
	prefix := strings.TrimRight(c.IPAMEtcdPrefix, "/")
	r := &Reconciler{Store: ipam.NewStoreKV(etcdv3.KV{Client: cli}, prefix, "", d.log), Pods: KubePods{Client: el.Client},
		Grace: c.IPAMReconcileGrace, Log: d.log}
	if c.IPAMPoolCountInterval > 0 {
		nads, err := nadclient.NewForConfig(restCfg)
		if err != nil {
			cli.Close()
			return el, nil, nil, fmt.Errorf("NetworkAttachmentDefinition client for %s: %w", restCfg.Host, err)
		}
		r.Pools = &PoolCounter{NADs: KubeNADs{Client: nads}, KV: etcdv3.KV{Client: cli}, Interval: c.IPAMPoolCountInterval,
			Log: d.log, usage: &d.pools}
	}
	return el, r, func() { cli.Close() }, nil
}

// etcdEndpoints reads the Secret's endpoints file (see ipam.ParseEndpoints);
// a missing file means none.
func etcdEndpoints(dir string) ([]string, error) {
	path := filepath.Join(dir, "endpoints")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read etcd endpoints %s: %w", path, err)
	}
	eps, err := ipam.ParseEndpoints(string(b))
	if err != nil {
		return nil, fmt.Errorf("etcd endpoint in %s: %w", path, err)
	}
	return eps, nil
}

// etcdTLS uses whichever of ca.crt, tls.crt and tls.key the Secret has; nil
// when it has none and every endpoint is plain http.
func etcdTLS(dir string, eps []string) (*tls.Config, error) {
	ca, cert, key := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	hasCert, hasKey := exists(cert), exists(key)
	if hasCert != hasKey {
		return nil, fmt.Errorf("etcd secret %s: tls.crt and tls.key must both be present or both absent", dir)
	}
	cfg := ipam.EtcdConfig{CertField: "etcd secret tls.crt", KeyField: "etcd secret tls.key", CAField: "etcd secret ca.crt"}
	if hasCert {
		cfg.CertFile, cfg.KeyFile = cert, key
	}
	if exists(ca) {
		cfg.TrustedCAFile = ca
	}
	return ipam.ClientTLS(cfg, eps)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

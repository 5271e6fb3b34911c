package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"

	"github.com/meta-cni/meta-cni/pkg/node"
)

// Config is the daemon's command line, one field per flag.
type Config struct {
	SourceBinDir         string
	CNIBinDir            string
	CNIConfDir           string
	HostCNIConfDir       string
	ConfFile             string
	ConfName             string
	EtcdSecretDir        string
	TokenFile            string
	CAFile               string
	APIServer            string
	CacheDir             string
	MetricsAddress       string
	TokenRefreshInterval time.Duration
	CleanupOnExit        bool
	Once                 bool

	// IPAMReconcileInterval is how often the elected daemon frees the
	// etcd-ipam allocations of pods that are gone; 0 turns it off.
	IPAMReconcileInterval time.Duration
	IPAMReconcileGrace    time.Duration
	IPAMEtcdPrefix        string
	// IPAMPoolCountInterval is how often the reconciler's leader counts the
	// etcd-ipam pools NADs name, for /metrics; 0 turns the count off.
	IPAMPoolCountInterval time.Duration

	// NodeAPISocket, when set, is where the daemon serves the plugin's API
	// calls; it is written into the conflist as "daemonSocket", so it must
	// be the same path in the daemon's container and on the host.
	NodeAPISocket string

	// ClusterNetworkTimeout bounds the wait for a cluster network conf in
	// the conf dir when the conflist leaves it to the daemon; 0 waits for
	// ever.
	ClusterNetworkTimeout time.Duration

	// NodeName is this node's Kubernetes name; empty means node.Name(),
	// the NODE_NAME the chart sets from spec.nodeName.
	NodeName string
}

// nodeName is the node this daemon serves, "" when nothing names it.
func (c *Config) nodeName() string {
	if c.NodeName != "" {
		return c.NodeName
	}
	return node.Name()
}

// credDirName is the folder under the conf dir that holds the plugin's
// credentials; the conflist and etcd-ipam configs name files in it.
const credDirName = "meta-cni.d"

// Names of the files the daemon writes under credDirName.
const (
	tokenName      = "token"
	caName         = "ca.crt"
	kubeconfigName = "meta-cni.kubeconfig"
	etcdDirName    = "etcd"
)

// validate checks the flags that have no safe default.
func (c *Config) validate() error {
	var errs []error
	for _, f := range []struct{ flag, value string }{
		{"--source-bin-dir", c.SourceBinDir},
		{"--cni-bin-dir", c.CNIBinDir},
		{"--cni-conf-dir", c.CNIConfDir},
		{"--host-cni-conf-dir", c.HostCNIConfDir},
		{"--conf-file", c.ConfFile},
		{"--token-file", c.TokenFile},
		{"--ca-file", c.CAFile},
	} {
		if f.value == "" {
			errs = append(errs, fmt.Errorf("flag %s: must not be empty", f.flag))
		}
	}
	if !filepath.IsAbs(c.HostCNIConfDir) {
		errs = append(errs, fmt.Errorf("flag --host-cni-conf-dir %q: must be an absolute path, as the host sees it", c.HostCNIConfDir))
	}
	// Runtimes load only *.conflist files as lists; any other name would be
	// read as a single conf and fail.
	if c.ConfName == "" || strings.ContainsRune(c.ConfName, '/') || filepath.Ext(c.ConfName) != ".conflist" {
		errs = append(errs, fmt.Errorf("flag --conf-name %q: must be a file name ending in .conflist", c.ConfName))
	}
	if !c.Once && c.TokenRefreshInterval <= 0 {
		errs = append(errs, fmt.Errorf("flag --token-refresh-interval %s: must be positive", c.TokenRefreshInterval))
	}
	if c.IPAMReconcileInterval < 0 {
		errs = append(errs, fmt.Errorf("flag --ipam-reconcile-interval %s: must not be negative (0 turns the reconciler off)", c.IPAMReconcileInterval))
	}
	if c.IPAMReconcileInterval > 0 && c.IPAMReconcileGrace <= 0 {
		errs = append(errs, fmt.Errorf("flag --ipam-reconcile-grace %s: must be positive", c.IPAMReconcileGrace))
	}
	if c.IPAMReconcileInterval > 0 && (!strings.HasPrefix(c.IPAMEtcdPrefix, "/") || strings.TrimRight(c.IPAMEtcdPrefix, "/") == "") {
		errs = append(errs, fmt.Errorf("flag --ipam-etcd-prefix %q: must be an etcd key prefix such as /meta-cni/ipam", c.IPAMEtcdPrefix))
	}
	if c.IPAMPoolCountInterval < 0 {
		errs = append(errs, fmt.Errorf("flag --ipam-pool-count-interval %s: must not be negative (0 turns the count off)", c.IPAMPoolCountInterval))
	}
	if c.ClusterNetworkTimeout < 0 {
		errs = append(errs, fmt.Errorf("flag --cluster-network-timeout %s: must not be negative (0 waits for ever)", c.ClusterNetworkTimeout))
	}
	if c.NodeAPISocket != "" && !filepath.IsAbs(c.NodeAPISocket) {
		errs = append(errs, fmt.Errorf("flag --node-api-socket %q: must be an absolute path, the same in the container and on the host", c.NodeAPISocket))
	}
	return errors.Join(errs...)
}

// apiServerURL is --api-server, or the in-cluster Service address the
// kubelet puts in every pod's environment.
func (c *Config) apiServerURL() (string, error) {
	if c.APIServer != "" {
		return c.APIServer, nil
	}
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return "", errors.New("flag --api-server is empty and KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set")
	}
	return "https://" + net.JoinHostPort(host, port), nil
}

func (c *Config) credDir() string     { return filepath.Join(c.CNIConfDir, credDirName) }
func (c *Config) hostCredDir() string { return filepath.Join(c.HostCNIConfDir, credDirName) }
func (c *Config) conflistPath() string {
	return filepath.Join(c.CNIConfDir, c.ConfName)
}

// restConfig is the daemon's own API client configuration: the mounted
// ServiceAccount token, re-read as the kubelet rotates it, and CA.
func (c *Config) restConfig() (*rest.Config, error) {
	host, err := c.apiServerURL()
	if err != nil {
		return nil, err
	}
	return &rest.Config{Host: host, BearerTokenFile: c.TokenFile,
		TLSClientConfig: rest.TLSClientConfig{CAFile: c.CAFile}, UserAgent: "meta-cni-daemon", Timeout: 30 * time.Second}, nil
}

// HostKubeconfigPath is where the plugin, running on the host, finds the
// generated kubeconfig.
func (c *Config) HostKubeconfigPath() string {
	return filepath.Join(c.hostCredDir(), kubeconfigName)
}

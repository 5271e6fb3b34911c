package realnode

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/meta-cni/meta-cni/internal/testenv"
)

// kube-proxy's own ports, on the loopback of the node's netns: nothing of
// them is reachable from the machine or another node.
const (
	kubeProxyHealthz = "127.0.0.1:10256"
	kubeProxyMetrics = "127.0.0.1:10249"
	// ClusterCIDR holds every node's pod subnet (podNet): traffic to a
	// Service from outside it (a macvlan pod, the node itself) is
	// masqueraded by kube-proxy, so replies come back through the node.
	ClusterCIDR = "10.244.0.0/16"
)

// kubeProxyConfig is a KubeProxyConfiguration that writes nothing outside
// the node's netns: conntrack limits and timeouts are left as they are
// (nf_conntrack_max and /sys/module/nf_conntrack/parameters/hashsize are
// host-wide; zero makes kube-proxy skip every conntrack write), and no
// route_localnet (localhostNodePorts off). iptables mode: the machine's
// iptables is iptables-nft, which works in a netns and keeps its tables
// there.
func (n *Node) kubeProxyConfig(kubeconfig string) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %s
hostnameOverride: %s
mode: iptables
clusterCIDR: %s
detectLocalMode: ClusterCIDR
healthzBindAddress: %s
metricsBindAddress: %s
nodePortAddresses: ["primary"]
oomScoreAdj: 0
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  localhostNodePorts: false
  masqueradeAll: false
  minSyncPeriod: 200ms
`, kubeconfig, n.Name, ClusterCIDR, kubeProxyHealthz, kubeProxyMetrics)
}

// startKubeProxy runs kube-proxy like the kubelet: in the node's netns and
// private mount namespace (its xtables lock goes to the node's /run).
func (n *Node) startKubeProxy(kubeconfig string) error {
	bin, err := testenv.KubeProxyBinary()
	if err != nil {
		return err
	}
	progressf("%s: kube-proxy (iptables, cluster CIDR %s)", n.Name, ClusterCIDR)
	cfg := n.path("kube-proxy.yaml")
	if err := os.WriteFile(cfg, []byte(n.kubeProxyConfig(kubeconfig)), 0o644); err != nil {
		return fmt.Errorf("node %s: write kube-proxy config: %w", n.Name, err)
	}
	n.kubeProxy, err = startProc(n.Name+" kube-proxy", n.path("kube-proxy.log"), n.inNode(bin, "--config="+cfg, "--v=1")...)
	return err
}

// waitKubeProxy waits until kube-proxy has written the Services' rules
// once, so in-cluster clients (the chart's daemon) find the "kubernetes"
// ClusterIP served. Its healthz says healthy from the start, before any
// rule exists; the metric of the last successful sync does not.
func (n *Node) waitKubeProxy(timeout time.Duration) error {
	netns, err := ns.GetNS(netnsPath(n.NetNS))
	if err != nil {
		return fmt.Errorf("node %s: open netns: %w", n.Name, err)
	}
	defer netns.Close()
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: dialIn(netns)}}
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		if !n.kubeProxy.running() {
			return n.kubeProxy.failure("exited")
		}
		synced, status := kubeProxySynced(hc)
		if synced {
			return nil
		}
		last = status
		time.Sleep(200 * time.Millisecond)
	}
	return n.kubeProxy.failure(fmt.Sprintf("no first sync of the rules after %s (metrics %s: %s)", timeout, kubeProxyMetrics, last))
}

// syncedMetric is set when kube-proxy's IPv4 rules were last written.
const syncedMetric = `kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} `

// kubeProxySynced reads kube-proxy's metrics: true once the IPv4 rules
// were written; else why not.
func kubeProxySynced(hc *http.Client) (bool, string) {
	resp, err := hc.Get("http://" + kubeProxyMetrics + "/metrics")
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return false, fmt.Sprintf("%s (%v)", resp.Status, err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, syncedMetric); ok {
			if ts, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && ts > 0 {
				return true, ""
			}
		}
	}
	return false, "no " + strings.TrimSpace(syncedMetric) + " yet"
}

// dialIn is a DialContext whose sockets are made inside netns.
func dialIn(netns ns.NetNS) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = netns.Do(func(ns.NetNS) error {
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	nadclient "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/client/clientset/versioned"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meta-cni/meta-cni/pkg/delegate"
	"github.com/meta-cni/meta-cni/pkg/ipam"
)

// PoolSample is one etcd-ipam range set's usage, as exported by
// meta_cni_ipam_pool_addresses.
type PoolSample struct {
	// Pool is the namespace/name of the NetworkAttachmentDefinition.
	Pool     string
	RangeSet string
	Total    uint64
	Used     uint64
	Free     uint64
}

// NADs lists every NetworkAttachmentDefinition.
type NADs interface {
	List(ctx context.Context) ([]nadv1.NetworkAttachmentDefinition, error)
}

// KubeNADs lists NetworkAttachmentDefinitions from the API server's watch
// cache: a count a few seconds stale is fine, a load on etcd is not.
type KubeNADs struct{ Client nadclient.Interface }

// List reads every namespace's NADs.
func (k KubeNADs) List(ctx context.Context) ([]nadv1.NetworkAttachmentDefinition, error) {
	l, err := k.Client.K8sCniCncfIoV1().NetworkAttachmentDefinitions(metav1.NamespaceAll).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return nil, fmt.Errorf("list NetworkAttachmentDefinitions: %w", err)
	}
	return l.Items, nil
}

// PoolCounter counts the etcd-ipam pools that NADs name, in the etcd the
// daemon was given: pools in another etcd are not seen.
type PoolCounter struct {
	NADs     NADs
	KV       ipam.KV
	Interval time.Duration
	Log      *slog.Logger

	usage *poolUsage
}

// Count lists the NADs and counts each etcd-ipam range set they name. A
// NAD whose config cannot be read or counted is left out and its error
// joined to the result; the others are still counted.
func (c *PoolCounter) Count(ctx context.Context) ([]PoolSample, error) {
	nads, err := c.NADs.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []PoolSample
	var errs []error
	for _, nad := range nads {
		pool := nad.Namespace + "/" + nad.Name
		confs, err := etcdIPAMConfs(nad.Name, nad.Spec.Config)
		if err != nil {
			errs = append(errs, fmt.Errorf("NetworkAttachmentDefinition %s: %w", pool, err))
			continue
		}
		for _, conf := range confs {
			cfg, err := ipam.ParseConfig(conf, "")
			if err != nil {
				errs = append(errs, fmt.Errorf("NetworkAttachmentDefinition %s: %w", pool, err))
				continue
			}
			usage, err := ipam.Usage(ctx, c.KV, cfg)
			if err != nil {
				errs = append(errs, fmt.Errorf("NetworkAttachmentDefinition %s: %w", pool, err))
				continue
			}
			for _, u := range usage {
				out = append(out, PoolSample{Pool: pool, RangeSet: u.RangeSet, Total: u.Total, Used: u.Used, Free: u.Free})
			}
		}
	}
	return out, errors.Join(errs...)
}

// countTimeout bounds one count: a NAD list and one etcd transaction per
// etcd-ipam config.
const countTimeout = 30 * time.Second

// run counts at once and then every Interval until ctx ends, then forgets
// the figures: a daemon that no longer leads must not export stale ones
// beside the new leader's.
func (c *PoolCounter) run(ctx context.Context) {
	defer c.usage.set(nil)
	tick := time.NewTicker(c.Interval)
	defer tick.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, countTimeout)
		samples, err := c.Count(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			c.usage.errs.Add(1)
			c.Log.Warn("count etcd-ipam pools", "pools", len(samples), "err", err)
		}
		// A failed list keeps the last figures: stale for a minute beats
		// none, and the error counter says why.
		if samples != nil || err == nil {
			c.usage.set(samples)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// etcdIPAMConfs finds the plugins of a NAD's config (a conf or a conflist)
// whose IPAM is etcd-ipam, and returns each plugin's config as etcd-ipam is
// given it. It reads the config as an ADD runs it (delegate.Plugins, then
// the ipam type as the main plugin's types.NetConf reads it), so it counts
// what will run: encoding/json alone took a "Plugins" key for the list that
// libcni ignores. An empty config names a file on the nodes, which the
// daemon does not read. name is the NAD's, the list's name when it has none.
func etcdIPAMConfs(name, config string) ([][]byte, error) {
	if config == "" {
		return nil, nil
	}
	list, err := delegate.Plugins(name, name, []byte(config), version.Current())
	if err != nil {
		return nil, fmt.Errorf("spec.config: %w", err)
	}
	var out [][]byte
	for _, p := range list.Plugins {
		var conf types.NetConf
		if json.Unmarshal(p.Bytes, &conf) != nil || conf.IPAM.Type != "etcd-ipam" {
			continue
		}
		// libcni injects these into each plugin's stdin.
		injected, err := libcni.InjectConf(p, map[string]any{"name": list.Name, "cniVersion": list.CNIVersion})
		if err != nil {
			return nil, fmt.Errorf("spec.config: %w", err)
		}
		out = append(out, injected.Bytes)
	}
	return out, nil
}

// poolUsage holds the last count for /metrics.
type poolUsage struct {
	mu      sync.Mutex
	samples []PoolSample
	errs    atomic.Uint64
}

func (u *poolUsage) set(s []PoolSample) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.samples = s
}

func (u *poolUsage) collect(ch chan<- prometheus.Metric) {
	u.mu.Lock()
	defer u.mu.Unlock()
	seen := map[[2]string]bool{}
	for _, s := range u.samples {
		// One NAD with two identical etcd-ipam blocks would repeat a series.
		key := [2]string{s.Pool, s.RangeSet}
		if seen[key] {
			continue
		}
		seen[key] = true
		for _, st := range []struct {
			state string
			v     uint64
		}{{"used", s.Used}, {"free", s.Free}, {"total", s.Total}} {
			ch <- prometheus.MustNewConstMetric(famPoolAddresses.desc(), prometheus.GaugeValue, float64(st.v), s.Pool, s.RangeSet, st.state)
		}
	}
	ch <- counterOf(famPoolCountErrors, u.errs.Load())
}

package daemon

import (
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/meta-cni/meta-cni/pkg/delegate"
	"github.com/meta-cni/meta-cni/pkg/release"
	"github.com/meta-cni/meta-cni/pkg/routing"
)

// The metric types MetricFamilies reports, as Prometheus names them.
const (
	typeCounter   = "counter"
	typeGauge     = "gauge"
	typeHistogram = "histogram"
)

// family is one series the daemon exports. Every one is declared here, so
// MetricFamilies, the chart's alerts and its dashboard check against a
// single list.
type family struct {
	name, typ, help string
	labels          []string
}

func (f family) desc() *prometheus.Desc { return prometheus.NewDesc(f.name, f.help, f.labels, nil) }

func (f family) counterVec() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: f.name, Help: f.help}, f.labels)
}

func (f family) histogramVec(buckets []float64) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: f.name, Help: f.help, Buckets: buckets}, f.labels)
}

var (
	famInfo = family{"meta_cni_daemon_info", typeGauge,
		"Version of the running meta-cni-daemon; the value is always 1.", []string{"version"}}
	famInstalled = family{"meta_cni_install_timestamp_seconds", typeGauge,
		"Unix time at which the last install finished; 0 until the first one does.", nil}
	famTokenRefreshes = family{"meta_cni_token_refreshes_total", typeCounter,
		"Times a rotated ServiceAccount token was copied to the host.", nil}
	famTokenRefreshErrors = family{"meta_cni_token_refresh_errors_total", typeCounter,
		"Token refreshes that failed to read the projected token or write the host copy.", nil}
	famReconcilePasses = family{"meta_cni_ipam_reconcile_passes_total", typeCounter,
		"IPAM reconcile passes this daemon ran while it led.", nil}
	famReconcileReleased = family{"meta_cni_ipam_reconcile_released_total", typeCounter,
		"Allocations of pods that no longer exist that the IPAM reconciler released.", nil}
	famReconcileErrors = family{"meta_cni_ipam_reconcile_errors_total", typeCounter,
		"IPAM reconciler failures: setup, listing holdings, pod GETs other than NotFound, and releases.", nil}
	famReconcileLeader = family{"meta_cni_ipam_reconcile_leader", typeGauge,
		"1 while this daemon holds the IPAM reconciler's Lease, else 0.", nil}
	famAttachments = family{"meta_cni_attachments", typeGauge,
		"Containers with an attachment record in meta-cni's cache on this node.", nil}
	famAttachmentNetworks = family{"meta_cni_attachment_networks", typeGauge,
		"Delegates attached on this node, per network (namespace/name of a NetworkAttachmentDefinition, or file:<path>).", []string{"network"}}
	famHostRoutePods = family{"meta_cni_host_route_pods", typeGauge,
		"Pods on this node that host-route serves, per mode, from meta-cni's attachment records.", []string{"mode"}}
	famNodeAPIRequests = family{"meta_cni_node_api_requests_total", typeCounter,
		"Plugin requests the node API answered, by route and HTTP status code (the API server's, or the daemon's own when it could not forward).", []string{"route", "code"}}
	famNodeAPIDuration = family{"meta_cni_node_api_request_duration_seconds", typeHistogram,
		"Time the node API took to answer a plugin request, API server round trip included.", []string{"route"}}
	famStatusPatches = family{"meta_cni_network_status_patches_total", typeCounter,
		"network-status patches the node API took from the plugin, by outcome: applied, or failed (refused by the API server, or not accepted within 10 minutes).", []string{"result"}}
	famStatusRetries = family{"meta_cni_network_status_patch_retries_total", typeCounter,
		"network-status patches sent again because the API server was unreachable, overloaded or failing.", nil}
	famStatusPending = family{"meta_cni_network_status_pending", typeGauge,
		"network-status patches in the journal, not yet applied.", nil}
	famNodeAPIEvents = family{"meta_cni_node_api_events_total", typeCounter,
		"Events the plugin handed to the node API, by what became of them: sent to the API server, failed (refused, or still unsent at shutdown), or dropped because the queue was full.", []string{"result"}}
	famPluginDuration = family{"meta_cni_plugin_duration_seconds", typeHistogram,
		"Time a meta-cni plugin run took, as the container runtime waited for it, per CNI verb and result (success or error); reported by the plugin after it answered.", []string{"verb", "result"}}
	famPluginErrors = family{"meta_cni_plugin_errors_total", typeCounter,
		"meta-cni plugin runs that returned a CNI error, per verb and CNI error code (see the README's error table).", []string{"verb", "code"}}
	famPoolAddresses = family{"meta_cni_ipam_pool_addresses", typeGauge,
		"Addresses of an etcd-ipam range set, by state (used, free, total); pool is the namespace/name of the NetworkAttachmentDefinition. Exported by the daemon that leads the IPAM reconciler.", []string{"pool", "range_set", "state"}}
	famPoolCountErrors = family{"meta_cni_ipam_pool_count_errors_total", typeCounter,
		"Failures to count an etcd-ipam pool: listing NetworkAttachmentDefinitions, a config that does not parse, or an etcd read.", nil}
)

// families is every meta_cni_* series, in the order /metrics shows them.
var families = []family{
	famInfo, famInstalled, famTokenRefreshes, famTokenRefreshErrors,
	famReconcilePasses, famReconcileReleased, famReconcileErrors, famReconcileLeader,
	famAttachments, famAttachmentNetworks, famHostRoutePods,
	famNodeAPIRequests, famNodeAPIDuration, famStatusPatches, famStatusRetries, famStatusPending, famNodeAPIEvents,
	famPluginDuration, famPluginErrors, famPoolAddresses, famPoolCountErrors,
}

// MetricFamilies names every family the daemon can export, with its type:
// the meta_cni_* series and the Go runtime and process collectors'. A
// histogram's family also covers its _bucket, _sum and _count series.
func MetricFamilies() map[string]string {
	out := map[string]string{}
	for _, f := range families {
		out[f.name] = f.typ
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(runtimeCollectors()...)
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		out[mf.GetName()] = strings.ToLower(mf.GetType().String())
	}
	return out
}

func runtimeCollectors() []prometheus.Collector {
	return []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}
}

// newRegistry is what /metrics serves.
func (d *Daemon) newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(runtimeCollectors()...)
	reg.MustRegister(daemonCollector{d})
	return reg
}

// daemonCollector reads the daemon's state at scrape time. Attachment
// figures come from the cache: the plugin, not the daemon, writes the
// records, so they are right after a daemon restart too.
type daemonCollector struct{ d *Daemon }

func (c daemonCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range families {
		ch <- f.desc()
	}
}

func (c daemonCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	installed := 0.0
	if ns := d.installedAt.Load(); ns != 0 {
		installed = float64(ns) / float64(time.Second)
	}
	passes, released, errs := d.reconcileCounts()
	leader := 0.0
	if d.reconcileLeader.Load() {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(famInfo.desc(), prometheus.GaugeValue, 1, release.Version)
	ch <- prometheus.MustNewConstMetric(famInstalled.desc(), prometheus.GaugeValue, installed)
	ch <- counterOf(famTokenRefreshes, d.tokenRefreshes.Load())
	ch <- counterOf(famTokenRefreshErrors, d.tokenRefreshErrors.Load())
	ch <- counterOf(famReconcilePasses, passes)
	ch <- counterOf(famReconcileReleased, released)
	ch <- counterOf(famReconcileErrors, errs)
	ch <- prometheus.MustNewConstMetric(famReconcileLeader.desc(), prometheus.GaugeValue, leader)

	counts := d.attachmentCounts()
	ch <- prometheus.MustNewConstMetric(famAttachments.desc(), prometheus.GaugeValue, float64(counts.records))
	for _, name := range slices.Sorted(maps.Keys(counts.networks)) {
		ch <- prometheus.MustNewConstMetric(famAttachmentNetworks.desc(), prometheus.GaugeValue, float64(counts.networks[name]), name)
	}
	for _, mode := range []routing.Mode{routing.ModeVeth, routing.ModeMacvlanBridge} {
		ch <- prometheus.MustNewConstMetric(famHostRoutePods.desc(), prometheus.GaugeValue, float64(counts.hostRoute[mode]), string(mode))
	}
	if n := d.nodeAPI.Load(); n != nil {
		n.Collect(ch)
	}
	d.pools.collect(ch)
}

func counterOf(f family, v uint64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(f.desc(), prometheus.CounterValue, float64(v), labels...)
}

// reconcileCounts reads the reconciler's counters, plus setup failures.
func (d *Daemon) reconcileCounts() (passes, released, errs uint64) {
	errs = d.reconcileSetupErrors.Load()
	if r := d.reconciler.Load(); r != nil {
		passes, released, errs = r.passes.Load(), r.released.Load(), errs+r.errs.Load()
	}
	return passes, released, errs
}

// attachmentCounts is what the attachment records say about this node.
type attachmentCounts struct {
	records   int
	networks  map[string]int
	hostRoute map[routing.Mode]int // pods with at least one host-route delegate in that mode
}

// attachmentCounts counts records, their delegates per network, and the
// pods host-route serves per mode. An unreadable record is left out and
// logged, not allowed to hide the rest.
func (d *Daemon) attachmentCounts() attachmentCounts {
	store := delegate.RecordStore{Dir: filepath.Join(d.cfg.CacheDir, "attachments")}
	records, err := store.List()
	if err != nil {
		d.log.Warn("read attachment records", "dir", store.Dir, "err", err)
	}
	out := attachmentCounts{records: len(records), networks: map[string]int{}, hostRoute: map[routing.Mode]int{}}
	for _, r := range records {
		modes := map[routing.Mode]bool{}
		for _, dg := range r.Delegates {
			out.networks[dg.Network]++
			for _, m := range hostRouteModes(dg.ConfList) {
				modes[m] = true
			}
		}
		for m := range modes {
			out.hostRoute[m]++
		}
	}
	return out
}

// hostRouteModes are the modes of the host-route plugins in a recorded
// conflist, read as libcni runs it and host-route reads its config: no mode
// is veth.
func hostRouteModes(conflist []byte) []routing.Mode {
	list, err := libcni.ConfListFromBytes(conflist)
	if err != nil {
		return nil
	}
	var out []routing.Mode
	for _, p := range list.Plugins {
		if p.Network.Type != "host-route" {
			continue
		}
		var conf struct {
			Mode string `json:"mode"`
		}
		_ = json.Unmarshal(p.Bytes, &conf)
		m := routing.Mode(conf.Mode)
		if m == "" {
			m = routing.ModeVeth
		}
		out = append(out, m)
	}
	return out
}

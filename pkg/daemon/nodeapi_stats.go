package daemon

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// latencyBuckets are the node API histogram's upper bounds, in seconds:
// from a watch-cache read on a quiet node to an API server near timeout.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// pluginBuckets are the plugin-run histogram's upper bounds, in seconds:
// from a DEL of a pod with nothing left to the runtime's own timeouts.
var pluginBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// nodeAPIMetrics are the node API's own series: its requests, and the
// plugin runs the plugin reports through it.
type nodeAPIMetrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	pluginDuration *prometheus.HistogramVec
	pluginErrors   *prometheus.CounterVec
}

func newNodeAPIMetrics() *nodeAPIMetrics {
	return &nodeAPIMetrics{
		requests:       famNodeAPIRequests.counterVec(),
		duration:       famNodeAPIDuration.histogramVec(latencyBuckets),
		pluginDuration: famPluginDuration.histogramVec(pluginBuckets),
		pluginErrors:   famPluginErrors.counterVec(),
	}
}

func (m *nodeAPIMetrics) observe(route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// Describe and Collect make the node API a prometheus.Collector: its
// request and plugin-run series, and its queues' counts.
func (n *NodeAPI) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range []family{famNodeAPIRequests, famNodeAPIDuration, famPluginDuration, famPluginErrors,
		famStatusPatches, famStatusRetries, famStatusPending, famNodeAPIEvents} {
		ch <- f.desc()
	}
}

// Collect reads the series at scrape time.
func (n *NodeAPI) Collect(ch chan<- prometheus.Metric) {
	m, q, st := n.metrics, n.events, n.status
	m.requests.Collect(ch)
	m.duration.Collect(ch)
	m.pluginDuration.Collect(ch)
	m.pluginErrors.Collect(ch)
	ch <- counterOf(famStatusPatches, st.applied.Load(), "applied")
	ch <- counterOf(famStatusPatches, st.failed.Load(), "failed")
	ch <- counterOf(famStatusRetries, st.retries.Load())
	ch <- prometheus.MustNewConstMetric(famStatusPending.desc(), prometheus.GaugeValue, float64(st.pendingCount()))
	ch <- counterOf(famNodeAPIEvents, q.sent.Load(), "sent")
	ch <- counterOf(famNodeAPIEvents, q.failed.Load(), "failed")
	ch <- counterOf(famNodeAPIEvents, q.dropped.Load(), "dropped")
}

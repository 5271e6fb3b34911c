package daemon

import (
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"
)

// latencyBuckets are the node API histogram's upper bounds, in seconds:
// from a watch-cache read on a quiet node to an API server near timeout.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// routeStats counts the node API's requests by route and status code and
// keeps a latency histogram per route.
type routeStats struct {
	mu     sync.Mutex
	routes map[string]*routeStat
}

type routeStat struct {
	codes   map[int]uint64
	buckets []uint64 // cumulative is computed when written
	sum     float64
	count   uint64
}

func newRouteStats() *routeStats { return &routeStats{routes: map[string]*routeStat{}} }

func (s *routeStats) observe(route string, code int, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.routes[route]
	if r == nil {
		r = &routeStat{codes: map[int]uint64{}, buckets: make([]uint64, len(latencyBuckets))}
		s.routes[route] = r
	}
	r.codes[code]++
	sec := d.Seconds()
	for i, le := range latencyBuckets {
		if sec <= le {
			r.buckets[i]++
			break
		}
	}
	r.sum += sec
	r.count++
}

// metrics renders the counter and the histogram families.
func (s *routeStats) metrics() []metric {
	s.mu.Lock()
	defer s.mu.Unlock()
	reqs := metric{name: "meta_cni_node_api_requests_total", typ: "counter",
		help: "Plugin requests the node API answered, by route and HTTP status code (the API server's, or the daemon's own when it could not forward)."}
	lat := metric{name: "meta_cni_node_api_request_duration_seconds", typ: "histogram",
		help: "Time the node API took to answer a plugin request, API server round trip included."}
	for _, route := range slices.Sorted(maps.Keys(s.routes)) {
		r := s.routes[route]
		for _, code := range slices.Sorted(maps.Keys(r.codes)) {
			reqs.samples = append(reqs.samples, sample{labels: [][2]string{{"route", route}, {"code", strconv.Itoa(code)}},
				value: strconv.FormatUint(r.codes[code], 10)})
		}
		var cum uint64
		for i, le := range latencyBuckets {
			cum += r.buckets[i]
			lat.samples = append(lat.samples, sample{name: "_bucket",
				labels: [][2]string{{"route", route}, {"le", strconv.FormatFloat(le, 'g', -1, 64)}}, value: strconv.FormatUint(cum, 10)})
		}
		lat.samples = append(lat.samples,
			sample{name: "_bucket", labels: [][2]string{{"route", route}, {"le", "+Inf"}}, value: strconv.FormatUint(r.count, 10)},
			sample{name: "_sum", labels: [][2]string{{"route", route}}, value: strconv.FormatFloat(r.sum, 'f', 6, 64)},
			sample{name: "_count", labels: [][2]string{{"route", route}}, value: strconv.FormatUint(r.count, 10)})
	}
	return []metric{reqs, lat}
}

// metrics are the node API's request figures and its queues'.
func (n *NodeAPI) metrics() []metric {
	q, st := n.events, n.status
	return append(n.stats.metrics(), metric{name: "meta_cni_network_status_patches_total", typ: "counter",
		help: "network-status patches the node API took from the plugin, by outcome: applied, or failed (refused by the API server, or not accepted within 10 minutes).",
		samples: []sample{
			{labels: [][2]string{{"result", "applied"}}, value: strconv.FormatUint(st.applied.Load(), 10)},
			{labels: [][2]string{{"result", "failed"}}, value: strconv.FormatUint(st.failed.Load(), 10)},
		}}, metric{name: "meta_cni_network_status_patch_retries_total", typ: "counter",
		help:    "network-status patches sent again because the API server was unreachable, overloaded or failing.",
		samples: []sample{{value: strconv.FormatUint(st.retries.Load(), 10)}}}, metric{name: "meta_cni_network_status_pending", typ: "gauge",
		help:    "network-status patches in the journal, not yet applied.",
		samples: []sample{{value: strconv.Itoa(st.pendingCount())}}}, metric{name: "meta_cni_node_api_events_total", typ: "counter",
		help: "Events the plugin handed to the node API, by what became of them: sent to the API server, failed (refused, or still unsent at shutdown), or dropped because the queue was full.",
		samples: []sample{
			{labels: [][2]string{{"result", "sent"}}, value: strconv.FormatUint(q.sent.Load(), 10)},
			{labels: [][2]string{{"result", "failed"}}, value: strconv.FormatUint(q.failed.Load(), 10)},
			{labels: [][2]string{{"result", "dropped"}}, value: strconv.FormatUint(q.dropped.Load(), 10)},
		}})
}

package main

import (
	"fmt"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// poolFigures waits until the daemon's pool count has seen want addresses
// used, and returns used, free and total as /metrics shows them.
func poolFigures(g prometheus.Gatherer, pool, rangeSet string, want float64) (used, free, total float64, err error) {
	series := func(state string) string {
		return fmt.Sprintf(`meta_cni_ipam_pool_addresses{pool=%q,range_set=%q,state=%q}`, pool, rangeSet, state)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if used, err = testenv.MetricValue(g, series("used")); err != nil {
			return 0, 0, 0, err
		}
		if used == want || time.Now().After(deadline) {
			break
		}
	}
	if used != want {
		return used, 0, 0, fmt.Errorf("%s is %v after 15s, want %v", series("used"), used, want)
	}
	if free, err = testenv.MetricValue(g, series("free")); err != nil {
		return 0, 0, 0, err
	}
	total, err = testenv.MetricValue(g, series("total"))
	return used, free, total, err
}

// latency is what the daemon's histogram says of one verb's successful
// runs: how many, and p50 and p95 estimated as PromQL's
// histogram_quantile does, by linear interpolation within a bucket.
func latency(g prometheus.Gatherer, verb string) (count uint64, p50, p95 time.Duration, err error) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, 0, 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() != "meta_cni_plugin_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label(m, "verb") == verb && label(m, "result") == "success" {
				h := m.GetHistogram()
				return h.GetSampleCount(), quantile(h, 0.5), quantile(h, 0.95), nil
			}
		}
	}
	return 0, 0, 0, fmt.Errorf("no %s run reported to the daemon", verb)
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func quantile(h *dto.Histogram, q float64) time.Duration {
	rank := q * float64(h.GetSampleCount())
	lower, below := 0.0, 0.0
	for _, b := range h.GetBucket() {
		if n := float64(b.GetCumulativeCount()); n >= rank && n > below {
			s := lower + (b.GetUpperBound()-lower)*(rank-below)/(n-below)
			return time.Duration(s * float64(time.Second))
		}
		lower, below = b.GetUpperBound(), float64(b.GetCumulativeCount())
	}
	return time.Duration(math.Inf(1))
}

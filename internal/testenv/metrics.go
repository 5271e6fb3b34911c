package testenv

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var (
	seriesRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$`)
	labelRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// MetricValue reads one series, written as in PromQL (`name{label="v",...}`,
// labels in any order), from what g gathers: a counter's or gauge's value,
// or a histogram's _count, _sum or cumulative _bucket{le="..."}. It is -1
// when the series is not there.
func MetricValue(g prometheus.Gatherer, series string) (float64, error) {
	m := seriesRE.FindStringSubmatch(series)
	if m == nil {
		return 0, fmt.Errorf("series %q does not parse", series)
	}
	want := map[string]string{}
	for _, l := range labelRE.FindAllStringSubmatch(m[2], -1) {
		want[l[1]] = strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(l[2])
	}
	mfs, err := g.Gather()
	if err != nil {
		return 0, fmt.Errorf("gather: %w", err)
	}
	name, suffix := m[1], ""
	for _, s := range []string{"_bucket", "_count", "_sum"} {
		if base, ok := strings.CutSuffix(name, s); ok && familyType(mfs, base) == dto.MetricType_HISTOGRAM {
			name, suffix = base, s
		}
	}
	le, hasLE := want["le"]
	if suffix == "_bucket" {
		delete(want, "le")
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, metric := range mf.GetMetric() {
			if !labelsEqual(metric.GetLabel(), want) {
				continue
			}
			h := metric.GetHistogram()
			switch {
			case suffix == "_count":
				return float64(h.GetSampleCount()), nil
			case suffix == "_sum":
				return h.GetSampleSum(), nil
			case suffix == "_bucket" && hasLE:
				if le == "+Inf" {
					return float64(h.GetSampleCount()), nil
				}
				for _, b := range h.GetBucket() {
					if strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64) == le {
						return float64(b.GetCumulativeCount()), nil
					}
				}
				return -1, nil
			case metric.Counter != nil:
				return metric.GetCounter().GetValue(), nil
			case metric.Gauge != nil:
				return metric.GetGauge().GetValue(), nil
			}
		}
	}
	return -1, nil
}

func familyType(mfs []*dto.MetricFamily, name string) dto.MetricType {
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetType()
		}
	}
	return -1
}

func labelsEqual(got []*dto.LabelPair, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, l := range got {
		if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
			return false
		}
	}
	return true
}

// Scrape is a Gatherer over a Prometheus text endpoint, such as an etcd
// member's /metrics, for MetricValue.
func Scrape(url string) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		client := &http.Client{Timeout: 10 * time.Second}
		resp, err := client.Get(url)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", url, err)
		}
		out := make([]*dto.MetricFamily, 0, len(fams))
		for _, f := range fams {
			out = append(out, f)
		}
		return out, nil
	})
}

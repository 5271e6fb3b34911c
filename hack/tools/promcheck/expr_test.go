package main

import (
	"reflect"
	"testing"
)

func TestParseListsEveryMetricNameOnce(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`sum by (le) (rate(a_bucket{node=~"$node"}[$__rate_interval])) / on() group_left max(b)`, []string{"a_bucket", "b"}},
		{`rate(a_total[${__interval}]) + rate(a_total[$__range])`, []string{"a_total"}},
		{`{__name__="c", x="y"}`, []string{"c"}},
		{`{__name__=~"c.*"}`, []string{`{__name__=~"c.*"}`}},
		{`vector(1)`, []string{}},
	} {
		got, err := Parse(tc.expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.expr, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

func TestParseRefusesWhatPrometheusRefuses(t *testing.T) {
	for _, expr := range []string{
		`rate(a_total)`,            // a range vector is required
		`sum(a) by (`,              // unclosed
		`rate(a_total[$interval])`, // a dashboard variable where a duration goes
		`no_such_function(a)`,
		`histogram_quantile(0.9, a) offset`,
	} {
		if _, err := Parse(expr); err == nil {
			t.Errorf("Parse(%q) succeeded; Prometheus refuses it", expr)
		}
	}
}

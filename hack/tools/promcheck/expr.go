package main

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Expression is one PromQL expression found in a file, with the metric
// names its selectors use.
type Expression struct {
	File     string   `json:"file"`
	Location string   `json:"location"` // e.g. `alert "X"` or `panel "Y" target A`
	Expr     string   `json:"expr"`
	Metrics  []string `json:"metrics"`
}

// promql is the stock parser with the stable function set, as a Prometheus
// server without feature flags has it.
var promql = parser.NewParser(parser.Options{})

// grafanaInterval matches Grafana's built-in range variables, which stand
// where PromQL wants a duration; any other $variable must sit inside a
// label matcher's string, or the expression does not parse.
var grafanaInterval = regexp.MustCompile(`\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}`)

// Parse parses expr with Prometheus's parser, after putting a duration in
// place of Grafana's range variables, and lists the metric names it selects.
// A selector without a fixed name is listed as written, so a caller that
// checks names against a list sees it.
func Parse(expr string) ([]string, error) {
	node, err := promql.ParseExpr(grafanaInterval.ReplaceAllString(expr, "5m"))
	if err != nil {
		return nil, err
	}
	names := []string{}
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		names = append(names, selectorName(vs))
		return nil
	})
	slices.Sort(names)
	return slices.Compact(names), nil
}

func selectorName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return vs.String()
}

// expression parses expr found at location in file.
func expression(file, location, expr string) (Expression, error) {
	names, err := Parse(expr)
	if err != nil {
		return Expression{}, fmt.Errorf("%s: %s: parse %q: %w", file, location, expr, err)
	}
	return Expression{File: file, Location: location, Expr: expr, Metrics: names}, nil
}

// Command promcheck checks Prometheus rule files and Grafana dashboards with
// Prometheus's own parsers, and prints, as JSON, every expression they hold
// with the metric names its selectors use. The chart tests run it to prove
// that each alert and panel parses and names only series meta-cni exports.
//
//	promcheck [-rules FILE]... [-dashboard FILE]...
//
// It exits 1 when a file does not parse; the JSON then holds what did.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
)

// files is a repeatable flag.
type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(v string) error { *f = append(*f, v); return nil }

func main() {
	var rules, dashboards files
	flag.Var(&rules, "rules", "a Prometheus rule file (the spec of a PrometheusRule); repeatable")
	flag.Var(&dashboards, "dashboard", "a Grafana dashboard JSON file; repeatable")
	flag.Parse()
	if len(rules)+len(dashboards) == 0 || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	out := []Expression{}
	var errs []error
	for _, f := range rules {
		exprs, err := RuleFileExpressions(f)
		out = append(out, exprs...)
		errs = append(errs, err...)
	}
	for _, f := range dashboards {
		exprs, err := DashboardExpressions(f)
		out = append(out, exprs...)
		errs = append(errs, err...)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, err := range errs {
		fmt.Fprintln(os.Stderr, err)
	}
	if len(errs) > 0 {
		os.Exit(1)
	}
}

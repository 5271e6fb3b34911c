package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestDashboardExpressionsWalksRowsTargetsAndVariables(t *testing.T) {
	file := writeFile(t, "d.json", `{
  "title": "d",
  "panels": [
    {"title": "top", "type": "timeseries", "targets": [{"refId": "A", "expr": "sum(a)"}]},
    {"title": "row", "type": "row", "panels": [
      {"title": "inner", "type": "stat", "targets": [{"refId": "B", "expr": "rate(b_total{node=~\"$node\"}[$__rate_interval])"}]}
    ]}
  ],
  "templating": {"list": [
    {"name": "datasource", "type": "datasource", "query": "prometheus"},
    {"name": "node", "type": "query", "query": {"query": "label_values(c_info, node)", "refId": "v"}},
    {"name": "old", "type": "query", "query": "label_values(d{x=\"y\"}, node)"}
  ]}
}`)
	got, errs := DashboardExpressions(file)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var locations []string
	var metrics []string
	for _, e := range got {
		locations = append(locations, e.Location)
		metrics = append(metrics, e.Metrics...)
	}
	wantLoc := []string{`panel "top" target A`, `panel "inner" target B`, `variable "node"`, `variable "old"`}
	if !reflect.DeepEqual(locations, wantLoc) || !reflect.DeepEqual(metrics, []string{"a", "b_total", "c_info", "d"}) {
		t.Errorf("locations %q metrics %q, want %q and a, b_total, c_info, d", locations, metrics, wantLoc)
	}
}

func TestDashboardExpressionsRefusesEmptyAndInvalidTargets(t *testing.T) {
	file := writeFile(t, "d.json", `{"panels": [
    {"title": "empty", "targets": [{"refId": "A", "expr": ""}]},
    {"title": "broken", "targets": [{"refId": "B", "expr": "rate(x[$window])"}]}
  ]}`)
	_, errs := DashboardExpressions(file)
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), `panel "empty" target A: no expr`) || !strings.Contains(errs[1].Error(), `panel "broken" target B`) {
		t.Errorf("errors %v, want one for each panel", errs)
	}
}

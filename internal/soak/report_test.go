package soak

import (
	"strings"
	"testing"
	"time"
)

func TestWriteResultsReplacesOnlyTheScenariosRunAgain(t *testing.T) {
	dir := t.TempDir()
	first := []Result{{Scenario: "churn/exact", Implementation: "meta-cni", Adds: 1}, {Scenario: "full-pool", Implementation: "meta-cni", Adds: 2}}
	if err := WriteResults(dir, "meta-cni", first); err != nil {
		t.Fatal(err)
	}
	if err := WriteResults(dir, "meta-cni", []Result{{Scenario: "full-pool", Implementation: "meta-cni", Adds: 3}}); err != nil {
		t.Fatal(err)
	}
	rs, err := ReadResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range rs {
		got[r.Scenario] = r.Adds
	}
	if len(rs) != 2 || got["churn/exact"] != 1 || got["full-pool"] != 3 {
		t.Fatalf("results after a second run of full-pool: %+v", rs)
	}
}

func TestTablesPutTheReferenceBesideMetaCNIAndMarkItsAbsence(t *testing.T) {
	rs := []Result{
		{Scenario: "churn/exact", Implementation: "meta-cni", Machine: "m", Date: "d", Scale: "full", Nodes: 10, Pods: 1000, Rounds: 3, PoolSize: 1000,
			Adds: 3000, AddsOK: 3000, Dels: 3000, Errors: map[string]int{}, PodNetworkP50Ms: 150, PodNetworkP95Ms: 10400, AddsPerSecond: 12.5, AddP50Ms: 100, AddP95Ms: 250, AgentPeakRSSMB: 40},
		{Scenario: "churn/paced", Implementation: "meta-cni", Machine: "m", Date: "d", Scale: "scaled", Nodes: 10, Pods: 100, Rounds: 1, PoolSize: 4093, PaceMs: 500, Errors: map[string]int{}},
		{Scenario: "full-pool", Implementation: "meta-cni", Errors: map[string]int{"100": 50, "11": 1}},
		{Scenario: "full-pool", Implementation: Reference, Errors: map[string]int{"999": 2}, AddsPerSecond: 2,
			Messages: map[string]int{"error waiting for pod: `context deadline exceeded`": 7, "could not allocate": 2, "a": 1, "b": 1, "c": 1, "d": 1}},
	}
	var b strings.Builder
	if err := Tables(&b, rs); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"### churn/exact\n",
		"m, d, scale full: 10 nodes, 1000 pods per round, 3 round(s), a pool of 1000 addresses.",
		"m, d, scale scaled: 10 nodes, 100 pods per round (arriving one every 500 ms across the cluster), 1 round(s), a pool of 4093 addresses.",
		"| figure | meta-cni | Multus + Whereabouts |",
		"| pod ADDs / DELs | 3000 / 3000 | next session |",
		"| ADDs/s | 12.5 | next session |",
		"| ADD p50 / p95 (ms), of the ADDs that succeeded | 100 / 250 | next session |",
		"| pod's wait for its network p50 / p95 (s), retries included | 0.1 / 10.4 | next session |",
		"| ADD p50 / p95 (ms), of the ADDs that succeeded | none succeeded | none succeeded |",
		"Why Multus + Whereabouts's calls failed (message with names and numbers as N; count):\n\n- 7 × `error waiting for pod: 'context deadline exceeded'`\n- 2 × `could not allocate`\n- 1 × `a`\n",
		"| errors by CNI code | 100: 50, 11: 1 | 999: 2 |",
		"| ADDs/s | 0.0 | 2.0 |",
		"| node agent peak RSS (MiB) | no agent | no agent |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tables lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "`d`") {
		t.Errorf("tables list more than the five most frequent messages:\n%s", out)
	}
	if strings.Index(out, "### churn/exact") > strings.Index(out, "### full-pool") {
		t.Errorf("scenarios out of order:\n%s", out)
	}
}

func TestSetLatenciesRatesTheFirstPhaseAndTakesPercentilesOverAll(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	fill := &phase{Latencies: ms(100, 200, 300, 400), PodNetwork: ms(100, 200, 300, 10400), Wall: 2 * time.Second}
	resume := &phase{Latencies: ms(900), PodNetwork: ms(900)}
	del := &phase{Latencies: ms(50, 60, 70)}
	var r Result
	r.setLatencies(fill, del, resume)
	if r.AddsPerSecond != 2 || r.AddP50Ms != 300 || r.AddP95Ms != 400 || r.PodNetworkP50Ms != 300 || r.PodNetworkP95Ms != 900 || r.DelP50Ms != 60 {
		t.Errorf("figures %+v", r)
	}
	if len(fill.Latencies) != 4 {
		t.Errorf("the rated phase changed: %v", fill.Latencies)
	}
	var none Result
	none.setLatencies(&phase{}, &phase{})
	if none.AddsPerSecond != 0 || none.AddP95Ms != 0 {
		t.Errorf("a phase that never ran: %+v", none)
	}
}

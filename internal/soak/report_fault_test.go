package soak

import (
	"strings"
	"testing"
)

func TestTablesAddFaultRowsOnlyToFaultScenariosAndSayWhyAColumnIsNotApplicable(t *testing.T) {
	rs := []Result{
		{Scenario: "churn/exact", Implementation: "meta-cni", Errors: map[string]int{}},
		{Scenario: "etcd-fault/leader", Implementation: "meta-cni", Errors: map[string]int{"11": 4}, AddsOK: 10,
			FaultMs: 5200, FaultAdds: map[string]int{"ok": 6, "11": 4}, FaultFailP50Ms: 40, FaultFailP95Ms: 1900, FailedForMs: 2300},
		{Scenario: "etcd-fault/leader", Implementation: Reference, NotApplicable: "Whereabouts keeps no state in the IPAM etcd"},
		{Scenario: "kube-outage", Implementation: "meta-cni", FaultAdds: map[string]int{"ok": 3}, FaultDels: map[string]int{"ok": 5}, FailedForMs: -1},
	}
	var b strings.Builder
	if err := Tables(&b, rs); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| fault lasted (s) | 5.2 | n/a |",
		"| ADDs ended during the fault, by code | 11: 4, ok: 6 | n/a |",
		"| failed ADDs during the fault, p50 / p95 (ms) | 40 / 1900 | n/a |",
		"| from the fault to the first ADD started after it that succeeded (s) | 2.3 | n/a |",
		"| DELs during the fault, by code | none ran | n/a |",
		"| pod ADDs / DELs | 0 / 0 | n/a |",
		"Multus + Whereabouts: n/a, Whereabouts keeps no state in the IPAM etcd\n",
		"| failed ADDs during the fault, p50 / p95 (ms) | none failed | next session |",
		"| from the fault to the first ADD started after it that succeeded (s) | none succeeded | next session |",
		"| DELs during the fault, by code | ok: 5 | next session |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tables lack %q:\n%s", want, out)
		}
	}
	churn := out[strings.Index(out, "### churn/exact"):strings.Index(out, "### etcd-fault/leader")]
	if strings.Contains(churn, "fault") {
		t.Errorf("the churn table has fault rows:\n%s", churn)
	}
}

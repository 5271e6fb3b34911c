package soak

import (
	"strings"
	"testing"
)

func TestTablesShowTheCrashRowsOnlyForTheCrashScenario(t *testing.T) {
	rs := []Result{
		{Scenario: "churn/exact", Implementation: "meta-cni", Errors: map[string]int{}},
		{Scenario: "crash/ipam", Implementation: "meta-cni", Errors: map[string]int{"11": 3}, Killed: "etcd-ipam", Kills: 10,
			KilledAddErrors: map[string]int{"999": 10}, LeftAfterKill: 4, NoDelKills: 5, NoDelLeft: 6},
		{Scenario: "crash/ipam", Implementation: Reference, Errors: map[string]int{}, Killed: "whereabouts", Kills: 9,
			LeftAfterKill: 7, LeftAfterDel: 2, LeftAfterGC: 2, LeftAfterConverge: 2, GCNote: "GC reaches the cluster network only"},
	}
	var b strings.Builder
	if err := Tables(&b, rs); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	churn, crash, _ := strings.Cut(out, "### crash/ipam")
	for _, want := range []string{
		"| killed with kill -9 at a random point of ADD | etcd-ipam, 10 times | whereabouts, 9 times |",
		"| the killed ADDs' errors by CNI code | 999: 10 | none |",
		"| kills whose sandbox never got the runtime's DEL: kills / leftovers / after CNI GC | 5 / 6 / 0 | 0 / 0 / 0 |",
		"| leftovers of the killed ADDs: before the runtime's DEL / after it / after CNI GC / after convergence | 4 / 0 / 0 / 0 | 7 / 2 / 2 (GC reaches the cluster network only) / 2 |",
	} {
		if !strings.Contains(crash, want) {
			t.Errorf("crash table lacks %q:\n%s", want, crash)
		}
	}
	if strings.Contains(churn, "killed") {
		t.Errorf("the churn table has the crash rows:\n%s", churn)
	}
}

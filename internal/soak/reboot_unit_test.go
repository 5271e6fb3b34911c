package soak

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"k8s.io/apimachinery/pkg/api/resource"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

func TestNewSandboxAfterARebootHasAContainerIDNoOtherSandboxOfThePodHad(t *testing.T) {
	p := &podRun{baseID: "cabc", rt: &libcni.RuntimeConf{ContainerID: "cabc",
		Args: [][2]string{{"K8S_POD_NAME", "x"}, {"K8S_POD_INFRA_CONTAINER_ID", "cabc"}}}}
	seen := map[string]bool{"cabc": true}
	p.newSandboxID(1) // a retry before the reboot
	seen[p.rt.ContainerID] = true
	p.newSandbox()
	if seen[p.rt.ContainerID] {
		t.Fatalf("the sandbox after the reboot reuses container ID %s", p.rt.ContainerID)
	}
	if p.rt.Args[1][1] != p.rt.ContainerID {
		t.Fatalf("K8S_POD_INFRA_CONTAINER_ID is %s, the container ID %s", p.rt.Args[1][1], p.rt.ContainerID)
	}
	seen[p.rt.ContainerID] = true
	p.newSandboxID(1) // a retry after the reboot
	if seen[p.rt.ContainerID] {
		t.Fatalf("a retry after the reboot reuses container ID %s", p.rt.ContainerID)
	}
}

// The burst scenario's bound is the chart's, as helm renders it from
// values.yaml.
func TestMemoryLimitIsTheRenderedChartsResourcesLimitsMemory(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "charts", "meta-cni", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Resources struct {
			Limits struct{ Memory string }
		}
	}
	if err := sigsyaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	want, err := resource.ParseQuantity(values.Resources.Limits.Memory)
	if err != nil {
		t.Fatalf("values.yaml resources.limits.memory %q: %v", values.Resources.Limits.Memory, err)
	}
	ch, err := renderChart(t.TempDir(), []string{"http://127.0.0.1:2379"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := memoryLimitMiB(ch)
	if err != nil {
		t.Fatal(err)
	}
	if got != float64(want.Value())/(1<<20) || got <= 0 {
		t.Fatalf("memory limit read from the rendered chart: %.1f MiB; values.yaml says %s", got, values.Resources.Limits.Memory)
	}
}

func TestTablesShowTheDeadSandboxesRowOnlyWhereAScenarioMeasuredIt(t *testing.T) {
	var b strings.Builder
	rs := []Result{
		{Scenario: "churn/exact", Implementation: "meta-cni"},
		{Scenario: "node-reboot", Implementation: "meta-cni", DeadSandboxes: map[string]int{"gc": 9, "left": 1}},
		{Scenario: "node-reboot", Implementation: Reference, DeadSandboxes: map[string]int{"takenOver": 10}},
	}
	if err := Tables(&b, rs); err != nil {
		t.Fatal(err)
	}
	churn, reboot, ok := strings.Cut(b.String(), "### node-reboot")
	if !ok {
		t.Fatalf("no node-reboot table in:\n%s", b.String())
	}
	if strings.Contains(churn, "dead sandboxes") {
		t.Errorf("churn's table has the dead sandboxes' row:\n%s", churn)
	}
	if !strings.Contains(reboot, "| dead sandboxes' addresses: freed by GC / taken over by the pod's new sandbox / left | 9 / 0 / 1 | 0 / 10 / 0 |") {
		t.Errorf("node-reboot's table lacks the row with both columns:\n%s", reboot)
	}
}

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/ipam"
)

func TestPoolSubcommandShowsUsedFreeAndHolders(t *testing.T) {
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	conf := r.conf("1.0.0", map[string]any{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.10", "rangeEnd": "10.0.0.29", "exclude": []string{"10.0.0.20"}, "staticAnywhereInSubnet": true})
	r.mustExec("ADD", "web-ctr", "K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0", conf)
	r.mustExec("ADD", "db-ctr", "K8S_POD_NAMESPACE=shop;K8S_POD_NAME=db-0", conf)
	r.mustExec("ADD", "static-ctr", "K8S_POD_NAMESPACE=ops;K8S_POD_NAME=probe;IP=10.0.0.200", conf)

	// Operators point it at the conflist on disk.
	var netconf map[string]any
	_ = json.Unmarshal(conf, &netconf)
	list := map[string]any{"cniVersion": "1.0.0", "name": "underlay", "plugins": []any{netconf}}
	file := filepath.Join(t.TempDir(), "10-underlay.conflist")
	if err := os.WriteFile(file, jsonMarshal(list), 0o600); err != nil {
		t.Fatal(err)
	}

	out, err := exec.Command(r.bin, "pool", "-o", "json", file).CombinedOutput()
	if err != nil {
		t.Fatalf("pool -o json: %v\n%s", err, out)
	}
	var reports []ipam.PoolReport
	if err := json.Unmarshal(out, &reports); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	if len(reports) != 1 {
		t.Fatalf("%d reports", len(reports))
	}
	rep := reports[0]
	if rep.Allocatable != 19 || rep.Used != 2 || rep.Free != 17 || len(rep.Entries) != 3 {
		t.Fatalf("report = %+v; want 19 allocatable, 2 used, 17 free, 3 entries", rep)
	}
	holders := map[string]string{}
	for _, e := range rep.Entries {
		holders[e.Addr.String()] = e.PodNamespace + "/" + e.PodName + " " + e.ContainerID
	}
	if holders["10.0.0.10"] != "shop/web-0 web-ctr" || holders["10.0.0.11"] != "shop/db-0 db-ctr" || holders["10.0.0.200"] != "ops/probe static-ctr" {
		t.Fatalf("holders = %v", holders)
	}

	text, err := exec.Command(r.bin, "pool", file).CombinedOutput()
	if err != nil {
		t.Fatalf("pool: %v\n%s", err, text)
	}
	for _, want := range []string{"allocatable 19, used 2, free 17", "10.0.0.10", "shop/web-0", "web-ctr", "ops/probe"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
}

func TestReleaseSubcommandFreesOneAttachmentAndNothingElse(t *testing.T) {
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	conf := r.conf("1.0.0", map[string]any{"subnet": "10.0.1.0/24", "rangeStart": "10.0.1.10", "rangeEnd": "10.0.1.29"})
	r.mustExec("ADD", "dead-node-ctr", "K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0", conf)
	r.mustExec("ADD", "live-ctr", "K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-1", conf)
	file := filepath.Join(t.TempDir(), "ipam.conf")
	if err := os.WriteFile(file, conf, 0o600); err != nil {
		t.Fatal(err)
	}

	out, err := exec.Command(r.bin, "release", file, "dead-node-ctr", "net1").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "released 10.0.1.10 from container dead-node-ctr") {
		t.Fatalf("release: %v\n%s", err, out)
	}
	pool, err := exec.Command(r.bin, "pool", "-o", "json", file).CombinedOutput()
	if err != nil {
		t.Fatalf("pool: %v\n%s", err, pool)
	}
	var reports []ipam.PoolReport
	if err := json.Unmarshal(pool, &reports); err != nil {
		t.Fatalf("decode %s: %v", pool, err)
	}
	if len(reports) != 1 || reports[0].Used != 1 || len(reports[0].Entries) != 1 || reports[0].Entries[0].ContainerID != "live-ctr" {
		t.Fatalf("after release the pool is %+v; want only live-ctr", reports)
	}

	again, err := exec.Command(r.bin, "release", file, "dead-node-ctr", "net1").CombinedOutput()
	if err != nil || !strings.Contains(string(again), "nothing to release") {
		t.Fatalf("second release: %v\n%s", err, again)
	}
	usage := exec.Command(r.bin, "release", file)
	if out, err := usage.CombinedOutput(); err == nil || usage.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "usage: etcd-ipam release") {
		t.Fatalf("release without container and interface: %v (exit %d)\n%s", err, usage.ProcessState.ExitCode(), out)
	}
}

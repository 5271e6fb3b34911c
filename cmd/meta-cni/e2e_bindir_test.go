package main_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestBinDirIsSearchedBeforeCNIPathNotInsteadOfIt(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// binDir holds chained-lo only; bridge, macvlan and host-local are on
	// the runtime's CNI_PATH, as with k3s, RKE2 and OpenShift.
	bin := filepath.Join(f.node.Dir, "extra-bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	f.setChainedPlugin(bin, true)
	f.createChainedNAD()
	f.metaExtra = map[string]any{"binDir": bin}
	list := f.metaConfList("1.1.0")
	sb := f.newPod("paths", map[string]string{"k8s.v1.cni.cncf.io/networks": "chained"})
	if _, err := f.node.Add(ctx, list, sb.rt); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	got := addrs(t, sb.ns)
	requireIn(t, got, "eth0", clusterSubnet)
	requireIn(t, got, "net1", "192.168.97.0/24")
	if err := f.node.Check(ctx, list, sb.rt); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	if err := f.node.Del(ctx, list, sb.rt); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	f.assertClean(sb)
}

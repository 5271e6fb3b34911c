package main_test

import (
	"context"
	"testing"
)

// As with Multus (types.mergeCNIRuntimeConfig), the runtimeConfig the
// runtime gives meta-cni, for the capabilities meta-cni's conf declares,
// reaches the delegates whose plugins declare them too.
func TestRuntimesRuntimeConfigReachesTheClusterNetwork(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.node.WriteFile(t, "net.d/15-cbr-caps.conflist", []byte(`{"cniVersion": "1.0.0", "name": "cbr-caps",
  "plugins": [{"type": "bridge", "bridge": "cni3", "isGateway": true, "capabilities": {"mac": true, "ips": true},
    "ipam": {"type": "host-local", "subnet": "10.246.1.0/24", "dataDir": "`+f.ipamDir+`"}}]}`))
	f.keepLinks = append(f.keepLinks, "cni3")
	f.metaExtra = map[string]any{"clusterNetwork": "cbr-caps", "capabilities": map[string]bool{"mac": true, "ips": true}}
	list := f.metaConfList("1.1.0")
	sb := f.newPod("rtconf", map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a"})
	sb.rt.CapabilityArgs = map[string]any{"mac": "c2:b0:57:49:47:aa", "ips": []string{"10.246.1.77/24"}}
	if _, err := f.node.Add(ctx, list, sb.rt); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	got := addrs(t, sb.ns)
	if ip := requireIn(t, got, "eth0", "10.246.1.0/24"); ip.String() != "10.246.1.77" {
		t.Errorf("eth0 got %s, want the runtime's 10.246.1.77", ip)
	}
	if mac := macOf(t, sb.ns, "eth0"); mac != "c2:b0:57:49:47:aa" {
		t.Errorf("eth0 MAC %s, want the runtime's c2:b0:57:49:47:aa", mac)
	}
	// macvlan-a declares no capability, so it sees none of it.
	requireIn(t, got, "net1", "192.168.91.0/24")
	if mac := macOf(t, sb.ns, "net1"); mac == "c2:b0:57:49:47:aa" {
		t.Error("net1 got the runtime's MAC although its NAD declares no mac capability")
	}
	if err := f.node.Check(ctx, list, sb.rt); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	if err := f.node.Del(ctx, list, sb.rt); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	f.assertClean(sb)
}

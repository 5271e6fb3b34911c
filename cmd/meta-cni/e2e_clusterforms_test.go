package main_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
)

// Multus's other ways to give the cluster network: a directory, whose
// first conf is used (k8sclient.getNetDelegate), and the inline delegates
// list, every entry of which is attached (types.LoadNetConf).
func TestClusterNetworkAsADirectoryOrInlineDelegates(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	dir := filepath.Dir(f.node.WriteFile(t, "cluster.d/10-cbr0.conflist", []byte(`{"cniVersion": "1.0.0", "name": "cbr0",
  "plugins": [{"type": "bridge", "bridge": "cni0", "isGateway": true,
    "ipam": {"type": "host-local", "subnet": "`+clusterSubnet+`", "dataDir": "`+f.ipamDir+`"}}]}`)))
	f.node.WriteFile(t, "cluster.d/20-later.conflist", []byte(`{"cniVersion": "1.0.0", "name": "later", "plugins": [{"type": "no-such-plugin"}]}`))
	var cbr0, side map[string]any
	_ = json.Unmarshal([]byte(`{"cniVersion": "1.0.0", "name": "cbr0", "type": "bridge", "bridge": "cni0", "isGateway": true,
  "ipam": {"type": "host-local", "subnet": "`+clusterSubnet+`", "dataDir": "`+f.ipamDir+`"}}`), &cbr0)
	_ = json.Unmarshal([]byte(f.macvlanConfig("1.0.0", "192.168.98.0/24", "ens3")), &side)
	side["name"] = "inline-side"

	for _, tc := range []struct {
		name  string
		extra map[string]any
		want  map[string]string
	}{
		{"directory", map[string]any{"clusterNetwork": dir},
			map[string]string{"eth0": clusterSubnet, "net1": "192.168.92.0/24"}},
		{"inline delegates", map[string]any{"clusterNetwork": "", "delegates": []any{cbr0, side}},
			map[string]string{"eth0": clusterSubnet, "net1": "192.168.98.0/24", "net2": "192.168.92.0/24"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.metaExtra = tc.extra
			list := f.metaConfList("1.0.0")
			sb := f.newPod("form-"+tc.name[:3], map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-b"})
			if _, err := f.node.Add(ctx, list, sb.rt); err != nil {
				t.Fatalf("ADD: %v", err)
			}
			got := addrs(t, sb.ns)
			for ifname, subnet := range tc.want {
				requireIn(t, got, ifname, subnet)
			}
			if len(got) != len(tc.want)+1 {
				t.Errorf("pod has links %v, want lo and %v", keys(got), keys(tc.want))
			}
			if err := f.node.Del(ctx, list, sb.rt); err != nil {
				t.Fatalf("DEL: %v", err)
			}
			f.assertClean(sb)
		})
	}
}

// A bare clusterNetwork name is a NAD in multusNamespace first and a conf
// in confDir only when there is no such NAD, as in Multus
// (k8sclient.getNetDelegate). meta-cni asks for the NAD before it starts
// the cluster network, so the conf's network never runs.
func TestNADShadowsAConfOfTheSameNameAsInMultus(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	netns := f.namespace + "-multus"
	f.createNAD(netns, "cbr0", `{"cniVersion": "1.0.0", "name": "cbr0-nad",
  "plugins": [{"type": "bridge", "bridge": "cni4", "isGateway": true,
    "ipam": {"type": "host-local", "subnet": "10.247.1.0/24", "dataDir": "`+f.ipamDir+`"}}]}`)
	f.keepLinks = append(f.keepLinks, "cni4")
	f.metaExtra = map[string]any{"multusNamespace": netns}
	list := f.metaConfList("1.0.0")
	sb := f.newPod("shadowed", map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a"})
	if _, err := f.node.Add(ctx, list, sb.rt); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	got := addrs(t, sb.ns)
	requireIn(t, got, "eth0", "10.247.1.0/24")
	requireIn(t, got, "net1", "192.168.91.0/24")
	if err := f.node.Del(ctx, list, sb.rt); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	f.assertClean(sb)
}

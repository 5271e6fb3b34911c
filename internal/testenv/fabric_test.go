package testenv

import (
	"net"
	"testing"
	"time"
)

func TestFabricNodesShareOneL2(t *testing.T) {
	f := NewFabric(t)
	a, b := f.NewNode(t, "eth0"), f.NewNode(t, "eth0")
	a.AddHostAddr(t, "10.250.9.1/24")
	b.AddHostAddr(t, "10.250.9.2/24")
	if err := Ping(a.NS, net.ParseIP("10.250.9.2"), 5*time.Second); err != nil {
		t.Fatalf("node a cannot reach node b across the fabric: %v", err)
	}
	links, err := Links(f.NS)
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != 4 { // lo, the bridge, one port per node
		t.Fatalf("fabric links %v, want lo, %s and two ports", links, FabricBridge)
	}
}

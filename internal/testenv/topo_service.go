package testenv

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// AddService emulates a ClusterIP in the node the way kube-proxy's DNAT
// does: new TCP connections to clusterIP (e.g. "10.96.0.10:80") entering
// the node are sent to backend (e.g. "10.10.20.54:7007"). It only
// rewrites the destination; whatever else the reply needs is up to the
// network plugins under test.
func (n *Node) AddService(t testing.TB, clusterIP, backend string) {
	t.Helper()
	svc, err := netip.ParseAddrPort(clusterIP)
	if err != nil {
		t.Fatalf("service address %q: %v", clusterIP, err)
	}
	be, err := netip.ParseAddrPort(backend)
	if err != nil {
		t.Fatalf("backend address %q: %v", backend, err)
	}
	family := "ip"
	if svc.Addr().Is6() {
		family = "ip6"
	}
	script := strings.Join([]string{
		"add table inet test_services",
		"add chain inet test_services prerouting { type nat hook prerouting priority -100; policy accept; }",
		fmt.Sprintf("add rule inet test_services prerouting %s daddr %s tcp dport %d dnat %s to %s",
			family, svc.Addr(), svc.Port(), family, be),
	}, "\n") + "\n"
	if _, err := RunInWithStdin(n.NS, script, "nft", "-f", "-"); err != nil {
		t.Fatalf("add service %s -> %s: %v", clusterIP, backend, err)
	}
}

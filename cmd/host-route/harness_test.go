package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// The node every test builds: one master with a dual-stack host address on
// the pods' subnet, and an echo server on each host address.
const (
	master   = "enp5s0f0"
	hostV4   = "10.10.20.152"
	hostV6   = "fd10::152"
	echoPort = 7007
	svcV4    = "10.96.0.10:80"
	svcV6    = "[fd96::10]:80"
)

var serviceCIDRs = []string{"10.96.0.0/12", "fd96::/108"}

func newNode(t testing.TB) *testenv.Node {
	t.Helper()
	n := testenv.NewNode(t, master)
	n.AddHostAddr(t, hostV4+"/24")
	n.AddHostAddr(t, hostV6+"/64")
	n.SettleMaster(t)
	if _, err := os.Stat("/proc/sys/net/ipv6/conf/all/force_forwarding"); err != nil {
		// Before Linux 6.17 host-route cannot enable IPv6 forwarding per
		// link, and its README asks the node for the global switch.
		t.Logf("kernel without per-link IPv6 force_forwarding: node gets net.ipv6.conf.all.forwarding=1")
		testenv.SetSysctl(t, n.NS, "net/ipv6/conf/all/forwarding", "1")
	}
	return n
}

func startHostEcho(t testing.TB, n *testenv.Node) {
	t.Helper()
	testenv.StartEcho(t, n.NS, hostPort(hostV4, echoPort))
	testenv.StartEcho(t, n.NS, hostPort(hostV6, echoPort))
}

// conflist is macvlan with host-local IPAM, followed by hostRoute unless
// it is nil (the control case).
func conflist(t testing.TB, n *testenv.Node, cniVersion string, hostRoute map[string]any) *libcni.NetworkConfigList {
	t.Helper()
	return namedConflist(t, n, "underlay", 50, cniVersion, hostRoute)
}

// namedConflist is conflist for network name, whose pods get .first to
// .first+49 of the IPv4 subnet and the IPv6 addresses written with the same
// digits (fd10::50 for .50). first+49 must stay below the host's .152.
func namedConflist(t testing.TB, n *testenv.Node, name string, first int, cniVersion string, hostRoute map[string]any) *libcni.NetworkConfigList {
	t.Helper()
	return familyConflist(t, n, name, first, []bool{true, false}, cniVersion, hostRoute)
}

// familyConflist is namedConflist with only the address families listed
// (true for IPv4, false for IPv6).
func familyConflist(t testing.TB, n *testenv.Node, name string, first int, v4s []bool, cniVersion string, hostRoute map[string]any) *libcni.NetworkConfigList {
	t.Helper()
	last := first + 49
	var ranges, routes []any
	for _, v4 := range v4s {
		if v4 {
			ranges = append(ranges, []any{map[string]any{"subnet": "10.10.20.0/24", "rangeStart": fmt.Sprintf("10.10.20.%d", first), "rangeEnd": fmt.Sprintf("10.10.20.%d", last), "gateway": "10.10.20.1"}})
			routes = append(routes, map[string]any{"dst": "0.0.0.0/0"})
		} else {
			ranges = append(ranges, []any{map[string]any{"subnet": "fd10::/64", "rangeStart": fmt.Sprintf("fd10::%d", first), "rangeEnd": fmt.Sprintf("fd10::%d", last), "gateway": "fd10::1"}})
			routes = append(routes, map[string]any{"dst": "::/0"})
		}
	}
	plugins := []any{map[string]any{
		"type":   "macvlan",
		"master": master,
		"mode":   "bridge",
		"ipam":   map[string]any{"type": "host-local", "dataDir": filepath.Join(n.Dir, "ipam"), "ranges": ranges, "routes": routes},
	}}
	if hostRoute != nil {
		plugins = append(plugins, hostRoute)
	}
	raw, err := json.Marshal(map[string]any{"cniVersion": cniVersion, "name": name, "plugins": plugins})
	if err != nil {
		t.Fatal(err)
	}
	conf, err := libcni.ConfListFromBytes(raw)
	if err != nil {
		t.Fatalf("conflist: %v", err)
	}
	return conf
}

// hostRouteConf is the host-route entry of a conflist.
func hostRouteConf(mode string, extra map[string]any) map[string]any {
	c := map[string]any{"type": "host-route", "mode": mode, "serviceCIDRs": serviceCIDRs}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

// addPod runs the conflist for a new pod and returns it with its IPs.
func addPod(t testing.TB, n *testenv.Node, list *libcni.NetworkConfigList, id string) (*testenv.Pod, *current.Result) {
	t.Helper()
	pod := testenv.NewPod(t, id, "eth0")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := n.Add(ctx, list, pod.RuntimeConf())
	if err != nil {
		t.Fatalf("ADD %s: %v", id, err)
	}
	cur, err := current.NewResultFromResult(res)
	if err != nil {
		t.Fatalf("ADD %s result: %v", id, err)
	}
	return pod, cur
}

func podIP(t testing.TB, res *current.Result, v4 bool) net.IP {
	t.Helper()
	for _, ipc := range res.IPs {
		if (ipc.Address.IP.To4() != nil) == v4 {
			return ipc.Address.IP
		}
	}
	t.Fatalf("result has no IPv4=%v address: %v", v4, res)
	return nil
}

func hostPort(ip string, port int) string { return net.JoinHostPort(ip, fmt.Sprint(port)) }

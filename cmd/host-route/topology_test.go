package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

const (
	reachable   = 5 * time.Second
	unreachable = time.Second
)

// TestHostRouteReachesHostAndServices builds a node, two pods through
// macvlan + host-local + host-route, an echo server on the host and in the
// second pod, and a ClusterIP DNATed to the second pod, then checks every
// path the issue names in both families.
func TestHostRouteReachesHostAndServices(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode  string
		extra map[string]any
	}{
		{"veth", map[string]any{"hostInterface": master}},
		{"macvlan-bridge", map[string]any{"master": master, "bridge": master + ".host"}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			n := newNode(t)
			list := conflist(t, n, "1.1.0", hostRouteConf(tc.mode, tc.extra))
			a, b, resA, resB := clientAndBackend(t, n, list)
			for _, v4 := range []bool{true, false} {
				host, svc := hostAndService(v4)
				aIP, bIP := podIP(t, resA, v4), podIP(t, resB, v4)
				for _, c := range []struct {
					what string
					err  func() error
				}{
					{"pod->host ping", func() error { return testenv.Ping(a.NS, host, reachable) }},
					{"pod->host TCP", func() error { return testenv.Echo(a.NS, hostPort(host.String(), echoPort), reachable) }},
					{"host->pod ping", func() error { return testenv.Ping(n.NS, aIP, reachable) }},
					{"host->pod TCP", func() error { return testenv.Echo(n.NS, hostPort(bIP.String(), echoPort), reachable) }},
					{"pod->Service TCP", func() error { return testenv.Echo(a.NS, svc, reachable) }},
					{"pod->pod ping", func() error { return testenv.Ping(a.NS, bIP, reachable) }},
					{"pod->pod TCP", func() error { return testenv.Echo(a.NS, hostPort(bIP.String(), echoPort), reachable) }},
				} {
					if err := c.err(); err != nil {
						t.Errorf("%s (IPv4=%v): %v", c.what, v4, err)
					}
				}
			}

			// State shared by the pods stays while one still uses it.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := n.Del(ctx, list, a.RuntimeConf()); err != nil {
				t.Fatalf("DEL pod-a: %v", err)
			}
			for _, host := range []string{hostV4, hostV6} {
				if err := testenv.Echo(b.NS, hostPort(host, echoPort), reachable); err != nil {
					t.Errorf("pod-b -> host %s after pod-a's DEL: %v", host, err)
				}
			}
			if err := n.Del(ctx, list, b.RuntimeConf()); err != nil {
				t.Fatalf("DEL pod-b: %v", err)
			}
		})
	}
}

// TestSingleStackPodsOnADualStackNode gives IPv4-only and IPv6-only pods a
// dual-stack node and dual-stack Service CIDRs: host-route routes the
// pod's own family, skips the other without error, and leaves no route of
// the missing family in the pod.
func TestSingleStackPodsOnADualStackNode(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"veth", "macvlan-bridge"} {
		for _, v4 := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/IPv4=%v", mode, v4), func(t *testing.T) {
				n := newNode(t)
				startHostEcho(t, n)
				list := familyConflist(t, n, "underlay", 50, []bool{v4}, "1.1.0", hostRouteConf(mode, map[string]any{"hostInterface": master}))
				a, _ := addPod(t, n, list, "single-a")
				b, resB := addPod(t, n, list, "single-b")
				backend := hostPort(podIP(t, resB, v4).String(), echoPort)
				testenv.StartEcho(t, b.NS, backend)
				host, svc := hostAndService(v4)
				n.AddService(t, svc, backend)
				if err := testenv.Echo(a.NS, hostPort(host.String(), echoPort), reachable); err != nil {
					t.Errorf("pod->host TCP: %v", err)
				}
				if err := testenv.Echo(a.NS, svc, reachable); err != nil {
					t.Errorf("pod->Service TCP: %v", err)
				}
				other := "-6"
				if !v4 {
					other = "-4"
				}
				routes, err := testenv.RunIn(a.NS, "ip", other, "route", "show", "proto", "151")
				if err != nil {
					t.Fatal(err)
				}
				if strings.TrimSpace(routes) != "" {
					t.Errorf("pod got host-route routes of its missing family:\n%s", routes)
				}
			})
		}
	}
}

// clientAndBackend builds what the reachability tests share: an echo server
// on the node's addresses, a client pod and a backend pod made through
// list, an echo server in the backend, and per family a ClusterIP DNATed to
// it.
func clientAndBackend(t *testing.T, n *testenv.Node, list *libcni.NetworkConfigList) (a, b *testenv.Pod, resA, resB *current.Result) {
	t.Helper()
	startHostEcho(t, n)
	a, resA = addPod(t, n, list, "pod-a")
	b, resB = addPod(t, n, list, "pod-b")
	for _, v4 := range []bool{true, false} {
		backend := hostPort(podIP(t, resB, v4).String(), echoPort)
		testenv.StartEcho(t, b.NS, backend)
		_, svc := hostAndService(v4)
		n.AddService(t, svc, backend)
	}
	return a, b, resA, resB
}

// hostAndService are the node's address and the ClusterIP of a family.
func hostAndService(v4 bool) (net.IP, string) {
	if v4 {
		return net.ParseIP(hostV4), svcV4
	}
	return net.ParseIP(hostV6), svcV6
}

// TestIPMasqHidesPodBehindNode sends the pod's traffic to a server beyond
// the node (in the wire netns, routed to the node through an extra CIDR).
// With ipMasq the server sees the node's address and its reply comes back;
// without it the server sees the pod's address, which it cannot route to.
func TestIPMasqHidesPodBehindNode(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"veth", "macvlan-bridge"} {
		for _, masq := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/ipMasq=%v", mode, masq), func(t *testing.T) {
				n := newNode(t)
				// Forwarding of the replies coming in on the master, as on
				// any Kubernetes node; host-route itself only enables it on
				// the links pods send through.
				testenv.SetSysctl(t, n.NS, "net/ipv4/ip_forward", "1")
				testenv.SetSysctl(t, n.NS, "net/ipv6/conf/all/forwarding", "1")
				n.AddHostAddr(t, "192.168.77.2/24")
				n.AddHostAddr(t, "fd77::2/64")
				testenv.AddAddr(t, n.Wire, "wire0", "192.168.77.1/24")
				testenv.AddAddr(t, n.Wire, "wire0", "fd77::1/64")
				remote := map[string]*testenv.EchoServer{
					"192.168.77.2": testenv.StartEcho(t, n.Wire, "192.168.77.1:7007"),
					"fd77::2":      testenv.StartEcho(t, n.Wire, "[fd77::1]:7007"),
				}
				list := conflist(t, n, "1.1.0", hostRouteConf(mode, map[string]any{
					"hostIPs": []string{hostV4, hostV6}, "extraCIDRs": []string{"192.168.77.0/24", "fd77::/64"}, "ipMasq": masq,
				}))
				pod, _ := addPod(t, n, list, "masq")
				for nodeIP, srv := range remote {
					timeout := reachable
					if !masq {
						timeout = unreachable
					}
					err := testenv.Echo(pod.NS, srv.Addr, timeout)
					switch {
					case masq && err != nil:
						t.Errorf("pod -> %s with ipMasq: %v", srv.Addr, err)
					case masq && fmt.Sprint(srv.Clients()) != fmt.Sprint([]string{nodeIP}):
						t.Errorf("server %s saw clients %v, want the node's %s", srv.Addr, srv.Clients(), nodeIP)
					case !masq && err == nil:
						t.Errorf("pod -> %s works without ipMasq, so the test proves nothing", srv.Addr)
					}
				}
			})
		}
	}
}

// TestMacvlanAloneCannotReachHostOrServices is the control case: the same
// node and pods without host-route fail the host and Service checks, which
// proves the checks above test something. Pod to pod still works.
func TestMacvlanAloneCannotReachHostOrServices(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	a, _, _, resB := clientAndBackend(t, n, conflist(t, n, "1.1.0", nil))
	for _, v4 := range []bool{true, false} {
		host, svc := hostAndService(v4)
		if err := testenv.Ping(a.NS, host, unreachable); err == nil {
			t.Errorf("pod->host ping (IPv4=%v) works without host-route", v4)
		}
		if err := testenv.Echo(a.NS, hostPort(host.String(), echoPort), unreachable); err == nil {
			t.Errorf("pod->host TCP (IPv4=%v) works without host-route", v4)
		}
		if err := testenv.Echo(a.NS, svc, unreachable); err == nil {
			t.Errorf("pod->Service TCP (IPv4=%v) works without host-route", v4)
		}
		if err := testenv.Echo(a.NS, hostPort(podIP(t, resB, v4).String(), echoPort), reachable); err != nil {
			t.Errorf("pod->pod TCP (IPv4=%v) fails even without host-route: %v", v4, err)
		}
	}
}

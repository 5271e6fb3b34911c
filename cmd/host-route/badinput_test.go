package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// TestBadInputFailsWithCode7AndCreatesNothing runs host-route's ADD on a
// real macvlan pod with each kind of bad input, and requires error code 7
// with a message naming the field, and neither the node nor the pod changed.
func TestBadInputFailsWithCode7AndCreatesNothing(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	pod, res := addPod(t, n, conflist(t, n, "1.1.0", nil), "bad-input")
	goodPrev, err := res.GetAsVersion("1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	noIPs := *res
	noIPs.IPs = nil
	// A host link with an IPv6 address only, for the IPv4 pod to find no
	// host address of its family on.
	err = n.NS.Do(func(ns.NetNS) error {
		return netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "v6only"}, PeerName: "v6only-peer"})
	})
	if err != nil {
		t.Fatal(err)
	}
	testenv.AddAddr(t, n.NS, "v6only", "fd99::1/64")

	for _, tc := range []struct {
		name string
		conf map[string]any
		prev types.Result
		want string
	}{
		{"no prevResult", hostRouteConf("veth", nil), nil, "chained after a plugin that assigns IPs"},
		{"prevResult without IPs", hostRouteConf("veth", nil), &noIPs, "chained after a plugin that assigns IPs"},
		{"unknown mode", hostRouteConf("bridge", nil), goodPrev, "mode"},
		{"bad service CIDR", hostRouteConf("veth", map[string]any{"serviceCIDRs": []string{"10.96.0.0/33"}}), goodPrev, "serviceCIDRs[0]"},
		{"bad extra CIDR", hostRouteConf("veth", map[string]any{"extraCIDRs": []string{"172.16.0.0/16", "banana"}}), goodPrev, "extraCIDRs[1]"},
		{"default route as extra CIDR", hostRouteConf("veth", map[string]any{"extraCIDRs": []string{"0.0.0.0/0"}}), goodPrev, "extraCIDRs[0]"},
		{"bad host IP", hostRouteConf("veth", map[string]any{"hostIPs": []string{"10.10.20.300"}}), goodPrev, "hostIPs[0]"},
		{"host IP the node does not have", hostRouteConf("veth", map[string]any{"hostIPs": []string{hostV4, "10.10.20.153"}}), goodPrev, "hostIPs[1]"},
		{"host interface that does not exist", hostRouteConf("veth", map[string]any{"hostInterface": "nope0"}), goodPrev, "hostInterface"},
		{"host interface without the pod's family", hostRouteConf("veth", map[string]any{"hostInterface": "v6only"}), goodPrev, "hostInterface: v6only has no global IPv4 address to route 10.96.0.0/12 through"},
		{"host IPs without the pod's family", hostRouteConf("veth", map[string]any{"hostIPs": []string{hostV6}}), goodPrev, "hostIPs: none is an IPv4 address, to route 10.96.0.0/12 through"},
		{"master that does not exist", hostRouteConf("macvlan-bridge", map[string]any{"master": "nope0"}), goodPrev, "master"},
		{"bridge that is not a macvlan", hostRouteConf("macvlan-bridge", map[string]any{"master": master, "bridge": master}), goodPrev, "bridge"},
		{"container interface taken", hostRouteConf("veth", map[string]any{"containerInterface": "eth0"}), goodPrev, "containerInterface"},
		{"container interface too long", hostRouteConf("veth", map[string]any{"containerInterface": "a-very-long-name0"}), goodPrev, "containerInterface"},
		{"negative MTU", hostRouteConf("veth", map[string]any{"mtu": -1}), goodPrev, "mtu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			beforeNode, beforePod := snapshot(t, n.NS), snapshot(t, pod.NS)
			_, err := execHostRoute(n, "ADD", pod, hostRouteStdin(t, "1.1.0", tc.conf, tc.prev))
			var perr *testenv.PluginError
			if !errors.As(err, &perr) || perr.CNI == nil {
				t.Fatalf("ADD = %v, want a CNI error", err)
			}
			if perr.CNI.Code != types.ErrInvalidNetworkConfig {
				t.Errorf("code %d, want %d: %s", perr.CNI.Code, types.ErrInvalidNetworkConfig, perr.CNI.Msg)
			}
			if !strings.Contains(perr.CNI.Msg, tc.want) {
				t.Errorf("message %q does not name %q", perr.CNI.Msg, tc.want)
			}
			if d := beforeNode.Diff(snapshot(t, n.NS)); d != "" {
				t.Errorf("the failed ADD changed the node:\n%s", d)
			}
			if d := beforePod.Diff(snapshot(t, pod.NS)); d != "" {
				t.Errorf("the failed ADD changed the pod:\n%s", d)
			}
		})
	}
}

// TestVersionAndStatus checks the commands a runtime uses to probe a plugin.
func TestVersionAndStatus(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	pod := testenv.NewPod(t, "probe", "eth0")
	out, err := execHostRoute(n, "VERSION", pod, []byte(`{"cniVersion":"1.1.0"}`))
	if err != nil {
		t.Fatalf("VERSION: %v", err)
	}
	var info struct {
		Supported []string `json:"supportedVersions"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("VERSION output %q: %v", out, err)
	}
	for _, want := range specVersions {
		if !strings.Contains(strings.Join(info.Supported, " "), want) {
			t.Errorf("VERSION lists %v, lacks %s", info.Supported, want)
		}
	}
	if _, err := execHostRoute(n, "STATUS", pod, hostRouteStdin(t, "1.1.0", hostRouteConf("veth", map[string]any{"hostInterface": master}), nil)); err != nil {
		t.Errorf("STATUS on a ready node: %v", err)
	}
	_, err = execHostRoute(n, "STATUS", pod, hostRouteStdin(t, "1.1.0", hostRouteConf("veth", map[string]any{"hostInterface": "nope0"}), nil))
	var perr *testenv.PluginError
	if !errors.As(err, &perr) || perr.CNI == nil || perr.CNI.Code != types.ErrPluginNotAvailable {
		t.Errorf("STATUS without the host interface = %v, want code %d", err, types.ErrPluginNotAvailable)
	}
}

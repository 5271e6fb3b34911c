package annotations

import (
	"encoding/json"
	"net"
	"reflect"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
)

func ipConfig(t *testing.T, iface *int, cidr, gw string) *types100.IPConfig {
	t.Helper()
	ip, n, err := net.ParseCIDR(cidr)
	if err != nil {
		t.Fatalf("ParseCIDR(%q): %v", cidr, err)
	}
	n.IP = ip
	c := &types100.IPConfig{Interface: iface, Address: *n}
	if gw != "" {
		c.Gateway = net.ParseIP(gw)
	}
	return c
}

func index(i int) *int { return &i }

func route(t *testing.T, dst, gw string) *types.Route {
	t.Helper()
	_, n, err := net.ParseCIDR(dst)
	if err != nil {
		t.Fatalf("ParseCIDR(%q): %v", dst, err)
	}
	return &types.Route{Dst: *n, GW: net.ParseIP(gw)}
}

// The results below have the shapes the reference plugins return.
func TestStatusesFromResult(t *testing.T) {
	const netns = "/var/run/netns/pod"
	// bridge: the bridge, the host end of the veth, then the pod's end.
	bridge := func(routes ...*types.Route) *types100.Result {
		return &types100.Result{
			CNIVersion: "1.0.0",
			Interfaces: []*types100.Interface{
				{Name: "cni0", Mac: "aa:aa:aa:aa:aa:01"},
				{Name: "veth1a2b3c4d", Mac: "aa:aa:aa:aa:aa:02"},
				{Name: "eth0", Mac: "0a:58:0a:f4:01:02", Sandbox: netns},
			},
			IPs:    []*types100.IPConfig{ipConfig(t, index(2), "10.244.1.2/24", "10.244.1.1")},
			Routes: routes,
		}
	}
	// macvlan with host-local, or chained with tuning (which passes the
	// result on): one interface.
	macvlan := &types100.Result{
		CNIVersion: "1.0.0",
		Interfaces: []*types100.Interface{{Name: "net1", Mac: "c2:b0:57:49:47:f1", Mtu: 1400, Sandbox: netns}},
		IPs: []*types100.IPConfig{
			ipConfig(t, index(0), "192.168.1.205/24", "192.168.1.1"),
			ipConfig(t, index(0), "fd00:1::205/64", "fd00:1::1"),
		},
	}
	// macvlan with static IPAM that sets routes and dns.
	static := &types100.Result{
		CNIVersion: "1.0.0",
		Interfaces: []*types100.Interface{{Name: "net1", Mac: "c2:b0:57:49:47:f2", Sandbox: netns}},
		IPs:        []*types100.IPConfig{ipConfig(t, index(0), "192.168.97.5/24", "192.168.97.1")},
		Routes:     []*types.Route{route(t, "0.0.0.0/0", "192.168.97.1"), route(t, "10.96.0.0/12", ""), route(t, "::/0", "fd00:97::1")},
		DNS:        types.DNS{Nameservers: []string{"192.168.97.53"}, Domain: "example.test", Search: []string{"example.test"}, Options: []string{"ndots:2"}},
	}
	staticDNS := nadv1.DNS{Nameservers: []string{"192.168.97.53"}, Domain: "example.test", Search: []string{"example.test"}, Options: []string{"ndots:2"}}
	// Two sandbox interfaces, IPs for both, one without an index.
	twoInterfaces := &types100.Result{
		Interfaces: []*types100.Interface{
			{Name: "net1", Mac: "c2:b0:57:49:47:f1", Sandbox: netns},
			{Name: "veth1a2b3c4d", Mac: "aa:aa:aa:aa:aa:aa"},
			{Name: "veth0", Mac: "bb:bb:bb:bb:bb:bb", Sandbox: netns},
		},
		IPs: []*types100.IPConfig{
			ipConfig(t, index(1), "169.254.1.1/32", ""),
			ipConfig(t, index(2), "169.254.1.2/32", "169.254.1.1"),
			ipConfig(t, index(0), "192.168.1.206/24", "192.168.1.1"),
			ipConfig(t, nil, "10.0.0.7/24", ""),
		},
	}
	for _, tc := range []struct {
		name      string
		isDefault bool
		res       *types100.Result
		want      []NetworkStatus
	}{
		{"bridge: one entry, the sandbox interface, no gateway without a default route", true, bridge(), []NetworkStatus{
			{Name: "ns1/net", Interface: "eth0", IPs: []string{"10.244.1.2"}, Mac: "0a:58:0a:f4:01:02", Default: true},
		}},
		{"bridge not default", false, bridge(), []NetworkStatus{
			{Name: "ns1/net", Interface: "eth0", IPs: []string{"10.244.1.2"}, Mac: "0a:58:0a:f4:01:02"},
		}},
		{"bridge with isDefaultGateway: gateway from its default route", true, bridge(route(t, "0.0.0.0/0", "10.244.1.1")), []NetworkStatus{
			{Name: "ns1/net", Interface: "eth0", IPs: []string{"10.244.1.2"}, Mac: "0a:58:0a:f4:01:02", Default: true, Gateway: []string{"10.244.1.1"}},
		}},
		{"macvlan: both families, mac, mtu; the IPs' gateways are not reported", true, macvlan, []NetworkStatus{
			{Name: "ns1/net", Interface: "net1", IPs: []string{"192.168.1.205", "fd00:1::205"}, Mac: "c2:b0:57:49:47:f1", Mtu: 1400, Default: true},
		}},
		{"static IPAM: gateways of both default routes, on a network that is not default, and dns", false, static, []NetworkStatus{
			{Name: "ns1/net", Interface: "net1", IPs: []string{"192.168.97.5"}, Mac: "c2:b0:57:49:47:f2", Gateway: []string{"192.168.97.1", "fd00:97::1"}, DNS: staticDNS},
		}},
		{"two sandbox interfaces: one entry each, the first with a gateway is default, unindexed IPs go last", true, twoInterfaces, []NetworkStatus{
			{Name: "ns1/net", Interface: "net1", IPs: []string{"192.168.1.206"}, Mac: "c2:b0:57:49:47:f1"},
			{Name: "ns1/net", Interface: "veth0", IPs: []string{"169.254.1.2", "10.0.0.7"}, Mac: "bb:bb:bb:bb:bb:bb", Default: true},
		}},
		{"two sandbox interfaces, no IP with a gateway: the first is default", true, &types100.Result{
			Interfaces: []*types100.Interface{{Name: "net1", Sandbox: netns}, {Name: "net2", Sandbox: netns}},
			IPs:        []*types100.IPConfig{ipConfig(t, index(1), "10.0.0.2/24", "")},
		}, []NetworkStatus{
			{Name: "ns1/net", Interface: "net1", Default: true},
			{Name: "ns1/net", Interface: "net2", IPs: []string{"10.0.0.2"}},
		}},
		{"gateway on a host interface: no entry is default", true, &types100.Result{
			Interfaces: []*types100.Interface{{Name: "host0"}, {Name: "net1", Sandbox: netns}},
			IPs:        []*types100.IPConfig{ipConfig(t, index(0), "10.0.0.1/24", "10.0.0.254"), ipConfig(t, index(1), "10.0.0.2/24", "")},
		}, []NetworkStatus{{Name: "ns1/net", Interface: "net1", IPs: []string{"10.0.0.2"}}}},
		{"one interface without sandbox: an entry without interface", true, &types100.Result{
			Interfaces: []*types100.Interface{{Name: "net1", Mac: "c2:b0:57:49:47:f1"}},
			IPs:        []*types100.IPConfig{ipConfig(t, index(0), "10.0.0.2/24", "")},
		}, []NetworkStatus{{Name: "ns1/net", IPs: []string{"10.0.0.2"}, Default: true}}},
		{"no interface: no entry", true, &types100.Result{
			IPs: []*types100.IPConfig{ipConfig(t, nil, "10.0.0.2/24", "10.0.0.1")},
		}, nil},
		{"default route without destination counts, without gateway adds nothing", false, &types100.Result{
			Interfaces: []*types100.Interface{{Name: "net1", Sandbox: netns}},
			Routes:     []*types.Route{{GW: net.ParseIP("10.0.0.1")}, route(t, "0.0.0.0/0", ""), nil},
		}, []NetworkStatus{{Name: "ns1/net", Interface: "net1", Gateway: []string{"10.0.0.1"}}}},
		{"nil entries and out-of-range indexes do not panic", true, &types100.Result{
			Interfaces: []*types100.Interface{nil, {Name: "net1", Sandbox: netns}, {Name: "net2", Sandbox: netns}},
			IPs:        []*types100.IPConfig{nil, ipConfig(t, index(7), "10.0.0.9/24", ""), ipConfig(t, index(-1), "10.0.0.8/24", ""), {Interface: index(1)}, ipConfig(t, index(1), "10.0.0.2/24", "")},
		}, []NetworkStatus{{Name: "ns1/net", Interface: "net1", IPs: []string{"10.0.0.2"}, Default: true}, {Name: "ns1/net", Interface: "net2"}}},
		{"nil result: no entry", true, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := StatusesFromResult("ns1/net", tc.isDefault, tc.res)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("StatusesFromResult =\n%#v\nwant\n%#v", got, tc.want)
			}
		})
	}
}

func TestStatusesFromResultDoNotAliasTheResultOrEachOther(t *testing.T) {
	res := &types100.Result{
		Interfaces: []*types100.Interface{{Name: "a", Sandbox: "/ns"}, {Name: "b", Sandbox: "/ns"}},
		Routes:     []*types.Route{{GW: net.ParseIP("10.0.0.1")}},
		DNS:        types.DNS{Nameservers: []string{"10.0.0.53"}},
	}
	st := StatusesFromResult("ns1/a", false, res)
	res.DNS.Nameservers[0] = "changed"
	st[1].Gateway[0], st[1].DNS.Nameservers[0] = "changed", "changed"
	if st[0].DNS.Nameservers[0] != "10.0.0.53" || st[0].Gateway[0] != "10.0.0.1" {
		t.Fatalf("entries share slices with the result or with each other: %#v", st)
	}
}

func TestFormatNetworkStatusUsesSpecFieldNamesInInputOrder(t *testing.T) {
	list := []NetworkStatus{
		{Name: "pods/cluster", Interface: "eth0", IPs: []string{"10.244.1.5"}, Mac: "0a:58:0a:f4:01:05", Default: true,
			Gateway: []string{"10.244.1.1"}, DNS: nadv1.DNS{Nameservers: []string{"10.96.0.10"}}},
		{Name: "ns1/macvlan-conf", Interface: "net1", IPs: []string{"192.168.1.205", "fd00:1::205"}, Mac: "c2:b0:57:49:47:f1", Mtu: 9000},
	}
	got, err := FormatNetworkStatus(list)
	if err != nil {
		t.Fatalf("FormatNetworkStatus: %v", err)
	}
	want := `[{"name":"pods/cluster","interface":"eth0","ips":["10.244.1.5"],"mac":"0a:58:0a:f4:01:05","default":true,"dns":{"nameservers":["10.96.0.10"]},"gateway":["10.244.1.1"]},` +
		`{"name":"ns1/macvlan-conf","interface":"net1","ips":["192.168.1.205","fd00:1::205"],"mac":"c2:b0:57:49:47:f1","mtu":9000,"dns":{}}]`
	if got != want {
		t.Fatalf("FormatNetworkStatus =\n%s\nwant\n%s", got, want)
	}
	var back []NetworkStatus
	if err := json.Unmarshal([]byte(got), &back); err != nil || !reflect.DeepEqual(back, list) {
		t.Fatalf("round trip = %#v, %v; want %#v", back, err, list)
	}
}

func TestFormatNetworkStatusOfNoAttachmentsIsAnEmptyList(t *testing.T) {
	for _, list := range [][]NetworkStatus{nil, {}} {
		got, err := FormatNetworkStatus(list)
		if err != nil || got != "[]" {
			t.Fatalf("FormatNetworkStatus(%#v) = %q, %v; want \"[]\"", list, got, err)
		}
	}
}

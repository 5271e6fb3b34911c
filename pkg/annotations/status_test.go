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

func TestStatusFromResult(t *testing.T) {
	const netns = "/var/run/netns/pod"
	macvlan := &types100.Result{
		CNIVersion: "1.0.0",
		Interfaces: []*types100.Interface{{Name: "net1", Mac: "c2:b0:57:49:47:f1", Mtu: 1500, Sandbox: netns}},
		IPs: []*types100.IPConfig{
			ipConfig(t, index(0), "192.168.1.205/24", "192.168.1.1"),
			ipConfig(t, index(0), "fd00:1::205/64", "fd00:1::1"),
		},
		DNS: types.DNS{Nameservers: []string{"192.168.1.53"}, Domain: "example.com", Search: []string{"example.com"}, Options: []string{"ndots:2"}},
	}
	// macvlan chained with a veth-to-host plugin: the host-side veth and a
	// second sandbox interface carry addresses that are not net1's.
	chained := &types100.Result{
		CNIVersion: "1.1.0",
		Interfaces: []*types100.Interface{
			{Name: "net1", Mac: "c2:b0:57:49:47:f1", Sandbox: netns},
			{Name: "veth1a2b3c4d", Mac: "aa:aa:aa:aa:aa:aa"},
			{Name: "veth0", Mac: "bb:bb:bb:bb:bb:bb", Sandbox: netns},
		},
		IPs: []*types100.IPConfig{
			ipConfig(t, index(0), "192.168.1.206/24", "192.168.1.1"),
			ipConfig(t, index(1), "169.254.1.1/32", ""),
			ipConfig(t, index(2), "169.254.1.2/32", "169.254.1.1"),
			ipConfig(t, index(0), "fd00:1::206/64", "fd00:1::1"),
		},
	}
	for _, tc := range []struct {
		name      string
		ifname    string
		isDefault bool
		res       *types100.Result
		want      NetworkStatus
	}{
		{"macvlan result reports both families, mac, mtu and dns", "net1", false, macvlan, NetworkStatus{
			Name: "ns1/macvlan-conf", Interface: "net1", IPs: []string{"192.168.1.205", "fd00:1::205"},
			Mac: "c2:b0:57:49:47:f1", Mtu: 1500,
			DNS: nadv1.DNS{Nameservers: []string{"192.168.1.53"}, Domain: "example.com", Search: []string{"example.com"}, Options: []string{"ndots:2"}},
		}},
		{"default attachment lists the gateways of its ips", "net1", true, macvlan, NetworkStatus{
			Name: "ns1/macvlan-conf", Interface: "net1", IPs: []string{"192.168.1.205", "fd00:1::205"},
			Mac: "c2:b0:57:49:47:f1", Mtu: 1500, Default: true, Gateway: []string{"192.168.1.1", "fd00:1::1"},
			DNS: nadv1.DNS{Nameservers: []string{"192.168.1.53"}, Domain: "example.com", Search: []string{"example.com"}, Options: []string{"ndots:2"}},
		}},
		{"chained result reports only ifname's ips", "net1", true, chained, NetworkStatus{
			Name: "ns1/macvlan-conf", Interface: "net1", IPs: []string{"192.168.1.206", "fd00:1::206"},
			Mac: "c2:b0:57:49:47:f1", Default: true, Gateway: []string{"192.168.1.1", "fd00:1::1"},
		}},
		{"second sandbox interface is reported when asked for", "veth0", false, chained, NetworkStatus{
			Name: "ns1/macvlan-conf", Interface: "veth0", IPs: []string{"169.254.1.2"}, Mac: "bb:bb:bb:bb:bb:bb",
		}},
		{"sandbox interface wins over a host link of the same name", "net1", false, &types100.Result{
			Interfaces: []*types100.Interface{{Name: "net1", Mac: "aa:aa:aa:aa:aa:aa"}, {Name: "net1", Mac: "c2:b0:57:49:47:f1", Sandbox: netns}},
			IPs:        []*types100.IPConfig{ipConfig(t, index(0), "10.0.0.1/32", ""), ipConfig(t, index(1), "10.0.0.2/24", "")},
		}, NetworkStatus{Name: "ns1/macvlan-conf", Interface: "net1", IPs: []string{"10.0.0.2"}, Mac: "c2:b0:57:49:47:f1"}},
		{"interface without sandbox still matches", "net1", false, &types100.Result{
			Interfaces: []*types100.Interface{{Name: "net1", Mac: "c2:b0:57:49:47:f1"}},
			IPs:        []*types100.IPConfig{ipConfig(t, index(0), "10.0.0.2/24", "")},
		}, NetworkStatus{Name: "ns1/macvlan-conf", Interface: "net1", IPs: []string{"10.0.0.2"}, Mac: "c2:b0:57:49:47:f1"}},
		{"no interface index means all ips", "net1", true, &types100.Result{
			IPs: []*types100.IPConfig{ipConfig(t, nil, "10.0.0.2/24", "10.0.0.1"), ipConfig(t, nil, "10.0.0.3/24", "10.0.0.1")},
		}, NetworkStatus{Name: "ns1/macvlan-conf", Interface: "net1", IPs: []string{"10.0.0.2", "10.0.0.3"}, Default: true, Gateway: []string{"10.0.0.1"}}},
		{"ips of other interfaces are not reported when ifname is absent", "net1", false, &types100.Result{
			Interfaces: []*types100.Interface{{Name: "veth0", Sandbox: netns}},
			IPs:        []*types100.IPConfig{ipConfig(t, index(0), "10.0.0.2/24", "")},
		}, NetworkStatus{Name: "ns1/macvlan-conf", Interface: "net1"}},
		{"nil entries and out-of-range indexes do not panic", "net1", true, &types100.Result{
			Interfaces: []*types100.Interface{nil, {Name: "net1", Sandbox: netns}},
			IPs:        []*types100.IPConfig{nil, ipConfig(t, index(7), "10.0.0.9/24", ""), ipConfig(t, index(-1), "10.0.0.8/24", ""), {Interface: index(1)}, ipConfig(t, index(1), "10.0.0.2/24", "")},
		}, NetworkStatus{Name: "ns1/macvlan-conf", Interface: "net1", IPs: []string{"10.0.0.2"}, Default: true}},
		{"nil result gives name, interface and default only", "net1", true, nil,
			NetworkStatus{Name: "ns1/macvlan-conf", Interface: "net1", Default: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := StatusFromResult("ns1/macvlan-conf", tc.ifname, tc.isDefault, tc.res)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("StatusFromResult =\n%#v\nwant\n%#v", got, tc.want)
			}
		})
	}
}

func TestStatusFromResultDoesNotAliasTheResult(t *testing.T) {
	res := &types100.Result{DNS: types.DNS{Nameservers: []string{"10.0.0.53"}}}
	st := StatusFromResult("ns1/a", "net1", false, res)
	res.DNS.Nameservers[0] = "changed"
	if st.DNS.Nameservers[0] != "10.0.0.53" {
		t.Fatalf("status shares the result's nameserver slice")
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

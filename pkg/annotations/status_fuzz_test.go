package annotations

import (
	"encoding/json"
	"net"
	"reflect"
	"testing"
	"unicode/utf8"

	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/types/create"
)

// statusSeeds are results in the shapes the reference plugins print, plus
// the odd ones a broken delegate can print.
var statusSeeds = []string{
	`{"cniVersion":"1.0.0","interfaces":[{"name":"cni0","mac":"aa:aa:aa:aa:aa:01"},{"name":"veth1","mac":"aa:aa:aa:aa:aa:02"},{"name":"eth0","mac":"0a:58:0a:f4:01:02","sandbox":"/var/run/netns/p"}],"ips":[{"interface":2,"address":"10.244.1.2/24","gateway":"10.244.1.1"}],"routes":[{"dst":"0.0.0.0/0","gw":"10.244.1.1"}]}`,
	`{"cniVersion":"1.0.0","interfaces":[{"name":"net1","mac":"c2:b0:57:49:47:f1","mtu":1400,"sandbox":"/var/run/netns/p"}],"ips":[{"interface":0,"address":"192.168.1.205/24","gateway":"192.168.1.1"},{"interface":0,"address":"fd00:1::205/64"}],"dns":{"nameservers":["192.168.97.53"],"domain":"example.test","search":["example.test"],"options":["ndots:2"]}}`,
	`{"cniVersion":"1.1.0","interfaces":[{"name":"net1","sandbox":"/p"},{"name":"veth0","sandbox":"/p"}],"ips":[{"address":"10.0.0.2/24"},{"interface":7,"address":"10.0.0.3/24"},{"interface":1,"address":"10.0.0.4/24","gateway":"10.0.0.1"}],"routes":[{"dst":"::/0","gw":"fd00::1"},{"dst":"10.96.0.0/12"}]}`,
	`{"cniVersion":"0.3.1","interfaces":[{"name":"eth0","sandbox":"/p"}],"ips":[{"version":"4","interface":0,"address":"10.1.0.5/16","gateway":"10.1.0.1"}]}`,
	`{"cniVersion":"0.2.0","ip4":{"ip":"10.1.0.5/16","gateway":"10.1.0.1"},"dns":{}}`,
	`{"cniVersion":"1.0.0","interfaces":[null,{"name":"x"}],"ips":[null,{"interface":-1,"address":"10.0.0.9/8"}],"routes":[null]}`,
	`{"cniVersion":"1.0.0"}`,
}

// FuzzNetworkStatus feeds a delegate's printed result through what ADD does
// with it (types100.NewResultFromResult, StatusesFromResult,
// FormatNetworkStatus): it must never panic, the annotation must read back
// as the entries that made it, and no entry may claim an address, interface
// or default the result did not give.
func FuzzNetworkStatus(f *testing.F) {
	for _, s := range statusSeeds {
		f.Add([]byte(s), "ns/net", true)
		f.Add([]byte(s), "cluster", false)
	}
	f.Fuzz(func(t *testing.T, printed []byte, network string, isDefault bool) {
		if !utf8.ValidString(network) {
			return // a NAD's namespace/name or a conf's name, never raw bytes
		}
		raw, err := create.CreateFromBytes(printed)
		if err != nil {
			return // libcni refuses it before meta-cni sees it
		}
		res, err := types100.NewResultFromResult(raw)
		if err != nil {
			return
		}
		list := StatusesFromResult(network, isDefault, res)
		value, err := FormatNetworkStatus(list)
		if err != nil {
			t.Fatalf("FormatNetworkStatus: %v", err)
		}
		var back []NetworkStatus
		if err := json.Unmarshal([]byte(value), &back); err != nil {
			t.Fatalf("network-status %s does not read back: %v", value, err)
		}
		if len(list) == 0 && value != "[]" {
			t.Fatalf("no entries gave %s, want []", value)
		}
		if len(list) > 0 && !reflect.DeepEqual(back, list) {
			t.Fatalf("network-status %s reads back as %+v, want %+v", value, back, list)
		}
		checkStatusesAgainstResult(t, list, network, isDefault, res)
	})
}

func checkStatusesAgainstResult(t *testing.T, list []NetworkStatus, network string, isDefault bool, res *types100.Result) {
	t.Helper()
	ips := map[string]bool{}
	for _, ip := range res.IPs {
		if ip != nil && ip.Address.IP != nil {
			ips[ip.Address.IP.String()] = true
		}
	}
	sandboxes := map[string]bool{}
	for _, intf := range res.Interfaces {
		if intf != nil && intf.Sandbox != "" {
			sandboxes[intf.Name] = true
		}
	}
	defaults := 0
	for i, st := range list {
		if st.Name != network {
			t.Fatalf("entry %d names network %q, want %q", i, st.Name, network)
		}
		if st.Default {
			defaults++
		}
		if st.Interface != "" && !sandboxes[st.Interface] {
			t.Fatalf("entry %d reports interface %q, which is no sandbox interface of the result", i, st.Interface)
		}
		for _, ip := range st.IPs {
			if !ips[ip] {
				t.Fatalf("entry %d reports IP %s, which the result does not hold", i, ip)
			}
		}
		for _, gw := range st.Gateway {
			if net.ParseIP(gw) == nil {
				t.Fatalf("entry %d reports gateway %q, not an IP", i, gw)
			}
		}
	}
	switch {
	case !isDefault && defaults != 0:
		t.Fatalf("%d entries marked default for a non-default network", defaults)
	case isDefault && len(list) > 0 && defaults != 1:
		t.Fatalf("%d entries marked default for the default network, want exactly 1", defaults)
	}
}

package annotations

import (
	"encoding/json"
	"fmt"

	types100 "github.com/containernetworking/cni/pkg/types/100"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
)

// NetworkStatus is one entry of the network-status annotation.
type NetworkStatus = nadv1.NetworkStatus

// StatusFromResult builds the network-status entry of one attachment, named
// network ("namespace/name"), from its CNI result. It reports the MAC, MTU and
// IPs of the sandbox interface named ifname: the IPs whose interface index
// points to it, or every IP when no IP names an interface. When isDefault is
// set, gateway lists those IPs' gateways. res may be nil.
func StatusFromResult(network, ifname string, isDefault bool, res *types100.Result) NetworkStatus {
	st := NetworkStatus{Name: network, Interface: ifname, Default: isDefault}
	if res == nil {
		return st
	}
	idx := sandboxInterface(res, ifname)
	if idx >= 0 {
		st.Mac = res.Interfaces[idx].Mac
		st.Mtu = res.Interfaces[idx].Mtu
	}
	seenGW := map[string]bool{}
	for _, ip := range ipsOf(res, idx) {
		if ip.Address.IP == nil {
			continue
		}
		st.IPs = append(st.IPs, ip.Address.IP.String())
		if isDefault && ip.Gateway != nil {
			if gw := ip.Gateway.String(); !seenGW[gw] {
				seenGW[gw] = true
				st.Gateway = append(st.Gateway, gw)
			}
		}
	}
	st.DNS = nadv1.DNS{
		Nameservers: cloneStrings(res.DNS.Nameservers),
		Domain:      res.DNS.Domain,
		Search:      cloneStrings(res.DNS.Search),
		Options:     cloneStrings(res.DNS.Options),
	}
	return st
}

// sandboxInterface returns the index of the interface named ifname inside the
// sandbox, or -1. A host-side link may share the name (a veth peer), so an
// entry with a sandbox wins; plugins that leave sandbox empty still match.
func sandboxInterface(res *types100.Result, ifname string) int {
	fallback := -1
	for i, intf := range res.Interfaces {
		if intf == nil || intf.Name != ifname {
			continue
		}
		if intf.Sandbox != "" {
			return i
		}
		if fallback < 0 {
			fallback = i
		}
	}
	return fallback
}

// ipsOf returns the IPs of interface idx, or all IPs if none names an interface.
func ipsOf(res *types100.Result, idx int) []*types100.IPConfig {
	indexed := false
	for _, ip := range res.IPs {
		if ip != nil && ip.Interface != nil {
			indexed = true
			break
		}
	}
	var out []*types100.IPConfig
	for _, ip := range res.IPs {
		if ip == nil {
			continue
		}
		if !indexed || (ip.Interface != nil && *ip.Interface == idx && idx >= 0) {
			out = append(out, ip)
		}
	}
	return out
}

func cloneStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}

// FormatNetworkStatus returns the network-status annotation value for list,
// in list order. An empty list gives "[]".
func FormatNetworkStatus(list []NetworkStatus) (string, error) {
	if list == nil {
		list = []NetworkStatus{}
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", fmt.Errorf("marshal %s: %w", NetworkStatusKey, err)
	}
	return string(b), nil
}

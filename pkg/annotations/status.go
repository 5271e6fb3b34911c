package annotations

import (
	"encoding/json"
	"fmt"
	"net"

	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
)

// NetworkStatus is one entry of the network-status annotation.
type NetworkStatus = nadv1.NetworkStatus

// StatusesFromResult builds the network-status entries of one attachment,
// named network ("namespace/name", or a conf's name), from its CNI result,
// as Multus does (its NAD client's CreateNetworkStatuses), so that tools
// reading the annotation see the same thing after a migration:
//   - a result with exactly one interface gives one entry with every IP of
//     the result, and that interface's name, MAC and MTU if it has a sandbox;
//   - any other result gives one entry per sandbox interface, each with the
//     IPs whose interface index points to it; IPs naming no interface go to
//     the last entry. With isDefault, the entry of the first IP that has a
//     gateway is the default one, or else the first entry;
//   - gateway lists the gateways of the result's default routes (not the
//     IPs' gateways), on every entry, default or not;
//   - dns is the result's DNS.
//
// Unlike Multus, a default route without a gateway adds nothing (Multus
// writes "<nil>"), nor does an IP without an address. res may be nil.
func StatusesFromResult(network string, isDefault bool, res *types100.Result) []NetworkStatus {
	if res == nil {
		return nil
	}
	gateways := defaultGateways(res.Routes)
	// Each entry gets its own copies: a caller may edit one entry.
	entry := func(intf *types100.Interface, def bool) NetworkStatus {
		st := NetworkStatus{Name: network, Default: def, Gateway: cloneStrings(gateways), DNS: nadv1.DNS{
			Nameservers: cloneStrings(res.DNS.Nameservers),
			Domain:      res.DNS.Domain,
			Search:      cloneStrings(res.DNS.Search),
			Options:     cloneStrings(res.DNS.Options),
		}}
		if intf != nil && intf.Sandbox != "" {
			st.Interface, st.Mac, st.Mtu = intf.Name, intf.Mac, intf.Mtu
		}
		return st
	}
	if len(res.Interfaces) == 1 {
		st := entry(res.Interfaces[0], isDefault)
		for _, ip := range res.IPs {
			st.IPs = appendIP(st.IPs, ip)
		}
		return []NetworkStatus{st}
	}

	gwIdx := -1
	if isDefault {
		gwIdx = gatewayInterface(res.IPs)
	}
	var out []NetworkStatus
	position := map[int]int{} // result's interface index -> entry
	for i, intf := range res.Interfaces {
		if intf == nil || intf.Sandbox == "" {
			continue
		}
		def := isDefault && (i == gwIdx || (gwIdx < 0 && len(out) == 0))
		position[i] = len(out)
		out = append(out, entry(intf, def))
	}
	if len(out) == 0 {
		return nil
	}
	for _, ip := range res.IPs {
		if ip == nil {
			continue
		}
		k := len(out) - 1
		if ip.Interface != nil {
			var ok bool
			if k, ok = position[*ip.Interface]; !ok {
				continue
			}
		}
		out[k].IPs = appendIP(out[k].IPs, ip)
	}
	return out
}

// gatewayInterface is the interface index of the first IP that has both a
// gateway and an interface index, or -1.
func gatewayInterface(ips []*types100.IPConfig) int {
	for _, ip := range ips {
		if ip != nil && ip.Gateway != nil && ip.Interface != nil {
			return *ip.Interface
		}
	}
	return -1
}

// defaultGateways lists the gateways of the default routes: a route whose
// destination is unset or starts at the all-zeros address of either family.
func defaultGateways(routes []*types.Route) []string {
	var out []string
	for _, rt := range routes {
		if rt == nil || rt.GW == nil {
			continue
		}
		if (rt.Dst.IP == nil && rt.Dst.Mask == nil) || rt.Dst.IP.Equal(net.IPv4zero) || rt.Dst.IP.Equal(net.IPv6zero) {
			out = append(out, rt.GW.String())
		}
	}
	return out
}

func appendIP(list []string, ip *types100.IPConfig) []string {
	if ip == nil || ip.Address.IP == nil {
		return list
	}
	return append(list, ip.Address.IP.String())
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

package routing

import (
	"errors"
	"net"
	"testing"

	"github.com/vishvananda/netlink"
)

func mustCIDR(s string) *net.IPNet {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = normalise(ip.Mask(n.Mask))
	return n
}

func ips(ss ...string) []net.IP {
	var out []net.IP
	for _, s := range ss {
		out = append(out, normalise(net.ParseIP(s)))
	}
	return out
}

func TestPodSideRoutesHostIPsThenCIDRsViaHost(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	s, err := podSide(7, ips("10.10.20.53", "fd10::53"), ips("10.10.20.152", "fd10::152"),
		[]*net.IPNet{mustCIDR("10.96.0.0/12"), mustCIDR("fd96::/108")}, mac)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ dst, gw, src string }{
		{"10.10.20.152/32", "<nil>", "10.10.20.53"},
		{"fd10::152/128", "<nil>", "fd10::53"},
		{"10.96.0.0/12", "10.10.20.152", "10.10.20.53"},
		{"fd96::/108", "fd10::152", "fd10::53"},
	}
	if len(s.Routes) != len(want) {
		t.Fatalf("routes %v, want %d", s.Routes, len(want))
	}
	for i, w := range want {
		r := s.Routes[i]
		if r.Dst.String() != w.dst || r.Gw.String() != w.gw || r.Src.String() != w.src || r.LinkIndex != 7 || r.Protocol != RouteProtocol {
			t.Errorf("route %d = %s via %v src %v dev %d proto %d, want %+v", i, r.Dst, r.Gw, r.Src, r.LinkIndex, r.Protocol, w)
		}
		if w.gw != "<nil>" && r.Flags&int(netlink.FLAG_ONLINK) == 0 {
			t.Errorf("route %s via the host is not onlink", r.Dst)
		}
	}
	if len(s.Neighs) != 2 || s.Neighs[0].State != netlink.NUD_PERMANENT || s.Neighs[0].HardwareAddr.String() != mac.String() {
		t.Errorf("neighbours %+v, want two permanent entries to %s", s.Neighs, mac)
	}
}

func TestPodSideSkipsFamiliesThePodLacks(t *testing.T) {
	s, err := podSide(7, ips("10.10.20.53"), ips("10.10.20.152", "fd10::152"),
		[]*net.IPNet{mustCIDR("10.96.0.0/12"), mustCIDR("fd96::/108")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Routes {
		if r.Dst.IP.To4() == nil {
			t.Errorf("IPv4-only pod gets IPv6 route %s", r.Dst)
		}
	}
	if len(s.Routes) != 2 {
		t.Errorf("routes %v, want the host /32 and the Service CIDR", s.Routes)
	}
}

func TestPodSideNeedsAHostIPOfEachRoutedFamily(t *testing.T) {
	_, err := podSide(7, ips("10.10.20.53", "fd10::53"), ips("10.10.20.152"), []*net.IPNet{mustCIDR("fd96::/108")}, nil)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "hostIPs" {
		t.Fatalf("podSide = %v, want a hostIPs config error", err)
	}
}

func TestHostSideRoutesPodIPsWithHostSource(t *testing.T) {
	s := hostSide(9, ips("10.10.20.53", "fd10::53"), ips("10.10.20.152", "fd10::152"), nil, 42)
	if len(s.Routes) != 2 || len(s.Neighs) != 0 {
		t.Fatalf("hostSide = %+v", s)
	}
	for _, r := range s.Routes {
		ones, bits := r.Dst.Mask.Size()
		if ones != bits || r.LinkIndex != 9 || r.Priority != 42 || r.Src == nil || isV4(r.Src) != isV4(r.Dst.IP) {
			t.Errorf("host route %+v", r)
		}
	}
}

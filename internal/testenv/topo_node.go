package testenv

import (
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// AddHostAddr puts cidr (e.g. "10.10.20.152/24" or "fd10::152/64") on the
// node's master link and returns it.
func (n *Node) AddHostAddr(t testing.TB, cidr string) *net.IPNet {
	t.Helper()
	return AddAddr(t, n.NS, n.Master, cidr)
}

// AddAddr puts cidr on the link named link inside netns and returns it.
// IPv6 addresses skip duplicate address detection, so they are usable at
// once.
func AddAddr(t testing.TB, netns ns.NetNS, link, cidr string) *net.IPNet {
	t.Helper()
	ipn, err := AddAddress(netns, link, cidr)
	if err != nil {
		t.Fatal(err)
	}
	return ipn
}

// AddAddress is AddAddr for callers outside a test, such as the demo.
func AddAddress(netns ns.NetNS, link, cidr string) (*net.IPNet, error) {
	ip, ipn, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", cidr, err)
	}
	ipn.IP = ip
	err = netns.Do(func(ns.NetNS) error {
		l, err := netlink.LinkByName(link)
		if err != nil {
			return err
		}
		return netlink.AddrAdd(l, &netlink.Addr{IPNet: ipn, Flags: nodad(ip)})
	})
	if err != nil {
		return nil, fmt.Errorf("add %s to %s: %w", cidr, link, err)
	}
	return ipn, nil
}

// NewPodNS makes an empty pod netns with loopback up, removed at cleanup.
func NewPodNS(t testing.TB) ns.NetNS {
	t.Helper()
	pod := NewNS(t)
	err := pod.Do(func(ns.NetNS) error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	})
	if err != nil {
		t.Fatalf("pod loopback: %v", err)
	}
	return pod
}

func nodad(ip net.IP) int {
	if ip.To4() == nil {
		return 0x02 // IFA_F_NODAD
	}
	return 0
}

// LinkAddrs lists the global addresses of a link inside netns.
func LinkAddrs(netns ns.NetNS, name string) ([]net.IP, error) {
	var ips []net.IP
	err := netns.Do(func(ns.NetNS) error {
		link, err := netlink.LinkByName(name)
		if err != nil {
			return fmt.Errorf("find %s: %w", name, err)
		}
		addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if a.Scope == int(netlink.SCOPE_UNIVERSE) {
				ips = append(ips, a.IP)
			}
		}
		return nil
	})
	return ips, err
}

// SettleMaster waits until the master's IPv6 link-local address has passed
// duplicate address detection. The kernel adds its local route only then,
// so a snapshot taken earlier would differ from a later one by that route.
func (n *Node) SettleMaster(t testing.TB) {
	t.Helper()
	const tentative = 0x40 // IFA_F_TENTATIVE
	deadline := time.Now().Add(10 * time.Second)
	for {
		settled := false
		err := n.NS.Do(func(ns.NetNS) error {
			link, err := netlink.LinkByName(n.Master)
			if err != nil {
				return err
			}
			addrs, err := netlink.AddrList(link, netlink.FAMILY_V6)
			if err != nil {
				return err
			}
			linkLocal, pending := false, false
			for _, a := range addrs {
				linkLocal = linkLocal || a.IP.IsLinkLocalUnicast()
				pending = pending || a.Flags&tentative != 0
			}
			settled = linkLocal && !pending
			return nil
		})
		if err != nil {
			t.Fatalf("settle %s: %v", n.Master, err)
		}
		if settled {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("settle %s: IPv6 addresses still tentative after 10s", n.Master)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SetSysctl writes /proc/sys/<key> inside netns, e.g. to give a node the
// net.ipv4.ip_forward=1 every Kubernetes node has.
func SetSysctl(t testing.TB, netns ns.NetNS, key, value string) {
	t.Helper()
	err := netns.Do(func(ns.NetNS) error {
		return os.WriteFile("/proc/sys/"+key, []byte(value), 0o644)
	})
	if err != nil {
		t.Fatalf("sysctl %s=%s: %v", key, value, err)
	}
}

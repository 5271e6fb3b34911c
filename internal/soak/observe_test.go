package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/google/nftables"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// hostState is what a node's netns and dirs hold that CNI calls made.
type hostState struct {
	hostVeths   []string          // veths other than cni0's ports
	bridgePorts int               // veths enslaved to cni0, one per cluster-network pod
	otherLinks  []string          // links of any other kind the harness did not make
	routes      []hostRoute       // routes through a veth
	tables      []string          // nftables tables
	clusterIPs  map[string]string // host-local's files: address -> container ID
}

type hostRoute struct {
	Dst  netip.Prefix
	Link string
}

// observeHost reads the node's links, routes and nftables tables from
// inside its netns, and the cluster network's host-local store.
func observeHost(n *node) (*hostState, error) {
	s := &hostState{clusterIPs: map[string]string{}}
	err := n.netns().Do(func(ns.NetNS) error {
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		names := map[int]string{}
		bridge := 0
		for _, l := range links {
			names[l.Attrs().Index] = l.Attrs().Name
			if l.Attrs().Name == "cni0" {
				bridge = l.Attrs().Index
			}
		}
		for _, l := range links {
			a := l.Attrs()
			switch {
			case a.Name == "lo" || a.Name == master || a.Name == "cni0":
			case l.Type() == "veth" && bridge != 0 && a.MasterIndex == bridge:
				s.bridgePorts++
			case l.Type() == "veth":
				s.hostVeths = append(s.hostVeths, a.Name)
			default:
				s.otherLinks = append(s.otherLinks, a.Name+" ("+l.Type()+")")
			}
		}
		routes, err := netlink.RouteList(nil, netlink.FAMILY_ALL)
		if err != nil {
			return err
		}
		for _, r := range routes {
			name := names[r.LinkIndex]
			// The kernel's own routes (a veth's fe80::/64) go with the link.
			if r.Dst == nil || r.Protocol == unix.RTPROT_KERNEL || !strings.HasPrefix(name, "hr") {
				continue
			}
			pfx, ok := netipPrefix(r.Dst.String())
			if ok {
				s.routes = append(s.routes, hostRoute{Dst: pfx, Link: name})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("node %s: read links and routes: %w", n.name, err)
	}
	conn, err := nftables.New(nftables.WithNetNSFd(int(n.netns().Fd())))
	if err != nil {
		return nil, fmt.Errorf("node %s: nftables: %w", n.name, err)
	}
	tables, err := conn.ListTables()
	if err != nil {
		return nil, fmt.Errorf("node %s: list nftables tables: %w", n.name, err)
	}
	for _, t := range tables {
		s.tables = append(s.tables, t.Name)
	}
	dir := filepath.Join(n.clusterDataDir(), clusterName)
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	for _, e := range entries {
		if _, err := netip.ParseAddr(e.Name()); err != nil {
			continue // lock, last_reserved_ip.0
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // released while listing
		}
		id, _, _ := strings.Cut(string(b), "\n")
		s.clusterIPs[e.Name()] = strings.TrimSpace(id)
	}
	return s, nil
}

func netipPrefix(s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	return p, err == nil
}

// podState is what a pod's netns and its object say about its networks.
type podState struct {
	addrs     map[string][]netip.Addr // by interface: global addresses in the netns
	links     []string                // every link but lo
	status    map[string][]netip.Addr // by interface: the network-status annotation's ips
	hasStatus bool
	deleted   bool // the pod object is gone
}

// observePod reads the pod's interfaces from its netns and, for a live
// pod, its network-status from the API server.
func observePod(ctx context.Context, c *cluster, p *podRun, withStatus bool) (*podState, error) {
	s := &podState{addrs: map[string][]netip.Addr{}, status: map[string][]netip.Addr{}}
	if p.netns != nil {
		err := p.netns.Do(func(ns.NetNS) error {
			links, err := netlink.LinkList()
			if err != nil {
				return err
			}
			for _, l := range links {
				name := l.Attrs().Name
				if name == "lo" {
					continue
				}
				s.links = append(s.links, name)
				addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
				if err != nil {
					return err
				}
				for _, a := range addrs {
					if ip, ok := netip.AddrFromSlice(a.IP); ok && a.Scope == int(netlink.SCOPE_UNIVERSE) {
						s.addrs[name] = append(s.addrs[name], ip.Unmap())
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("pod %s: read its netns: %w", p.key(), err)
		}
	}
	if !withStatus {
		return s, nil
	}
	obj, err := c.kube.Clientset().CoreV1().Pods(p.namespace).Get(ctx, p.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		s.deleted = true
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get pod %s: %w", p.key(), err)
	}
	raw, ok := obj.Annotations[nadv1.NetworkStatusAnnot]
	if !ok {
		return s, nil
	}
	s.hasStatus = true
	var entries []nadv1.NetworkStatus
	if err := json.Unmarshal([]byte(raw), &entries); err != nil {
		return nil, fmt.Errorf("pod %s: network-status %q: %w", p.key(), raw, err)
	}
	for _, e := range entries {
		for _, ip := range e.IPs {
			if a, err := netip.ParseAddr(ip); err == nil {
				s.status[e.Interface] = append(s.status[e.Interface], a)
			}
		}
	}
	return s, nil
}

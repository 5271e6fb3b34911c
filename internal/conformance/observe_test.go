package conformance_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ns"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/vishvananda/netlink"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// observation is what one implementation did in one scenario, in a form
// that compares across implementations: per pod, keyed by pod name.
type observation struct {
	Add      map[string]string   // "ok" or "error code N"
	AddNetns map[string][]string // links, addresses and routes after ADD
	Status   map[string]string   // network-status, MACs blanked, keys sorted
	Events   map[string][]string // the reasons of the pod's Events
	Rules    string              // the node's nftables and iptables after ADD
	Verbs    map[string]string   // "CHECK" etc.: "ok" or "error code N"
	Del      map[string]string
	DelNetns map[string][]string
	Left     []string // what DEL left on the node: links, IPAM files, caches
	// SpuriousLookups counts the Events eventReasons left out.
	SpuriousLookups int
	// Errs keeps the raw errors, for a scenario's own assertions.
	Errs map[string]error // "ADD <pod>", "DEL <pod>", "<VERB>"
}

func newObservation() *observation {
	return &observation{Add: map[string]string{}, AddNetns: map[string][]string{}, Status: map[string]string{},
		Events: map[string][]string{}, Verbs: map[string]string{}, Del: map[string]string{},
		DelNetns: map[string][]string{}, Errs: map[string]error{}}
}

// outcome is how a CNI call ended, as a runtime tells: success, or the
// error's code.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	var e *types.Error
	if errors.As(err, &e) {
		return fmt.Sprintf("error code %d", e.Code)
	}
	return "error (not a CNI error)"
}

// netnsView lists a netns's links (name, kind, state), global addresses
// and routes of every table but local, sorted. IPv6 link-local and
// multicast routes, which the kernel adds by itself, are left out.
func netnsView(netns ns.NetNS, macs bool) ([]string, error) {
	var out []string
	err := netns.Do(func(ns.NetNS) error {
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		names := map[int]string{}
		for _, l := range links {
			a := l.Attrs()
			names[a.Index] = a.Name
			line := fmt.Sprintf("link %s %s %s", a.Name, l.Type(), map[bool]string{true: "up", false: "down"}[a.Flags&net.FlagUp != 0])
			if mv, ok := l.(*netlink.Macvlan); ok {
				line += fmt.Sprintf(" mode=%d", mv.Mode)
			}
			if a.MTU != 0 && a.MTU != 1500 && a.Name != "lo" {
				line += fmt.Sprintf(" mtu=%d", a.MTU)
			}
			if macs && a.Name != "lo" {
				line += " mac=" + a.HardwareAddr.String()
			}
			out = append(out, line)
			addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
			if err != nil {
				return err
			}
			for _, ad := range addrs {
				if ad.IP.IsGlobalUnicast() {
					out = append(out, fmt.Sprintf("addr %s %s", a.Name, ad.IPNet))
				}
			}
		}
		routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: 0}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return err
		}
		for _, rt := range routes {
			if rt.Table == 255 || (rt.Dst != nil && (rt.Dst.IP.IsLinkLocalUnicast() || rt.Dst.IP.IsMulticast())) {
				continue
			}
			dst := "default"
			if rt.Dst != nil {
				dst = rt.Dst.String()
			}
			line := fmt.Sprintf("route table=%d %s", rt.Table, dst)
			if rt.Gw != nil {
				line += " via " + rt.Gw.String()
			}
			line += " dev " + names[rt.LinkIndex]
			if rt.Src != nil {
				line += " src " + rt.Src.String()
			}
			if rt.Scope != netlink.SCOPE_UNIVERSE {
				line += " scope " + rt.Scope.String()
			}
			out = append(out, line)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// networkStatus is the pod's network-status annotation with every MAC
// blanked but those the pod requested (the others are random), and keys in
// a stable order; "" when absent.
func (r *run) networkStatus(sb *sandbox) string {
	r.t.Helper()
	pod, err := r.kube.Clientset().CoreV1().Pods(sb.obj.Namespace).Get(context.Background(), sb.obj.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "(no pod)"
	}
	if err != nil {
		r.t.Fatal(err)
	}
	raw, ok := pod.Annotations[nadv1.NetworkStatusAnnot]
	if !ok {
		return ""
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		return "unparseable: " + raw
	}
	for _, entry := range list {
		// Only a MAC the pod requested is the same on every run.
		mac, ok := entry["mac"].(string)
		if ok && !(r.sc.macs && mac != "" && strings.Contains(sb.spec.annotations[networksAnnot], mac)) {
			entry["mac"] = "<mac>"
		}
	}
	out, _ := json.Marshal(list)
	return string(out)
}

// eventReasons lists the distinct reasons of the Events about this pod
// (this UID). It leaves out, and counts, the Warning Multus sends on every
// ADD whose clusterNetwork names a conf in confDir rather than a NAD: it
// looks for a NAD of that name first and reports not finding it, although
// nothing is wrong (docs/multus-compat.md, "Normalized").
func (r *run) eventReasons(sb *sandbox, o *observation) []string {
	r.t.Helper()
	list, err := r.kube.Clientset().CoreV1().Events(sb.obj.Namespace).List(context.Background(),
		metav1.ListOptions{FieldSelector: "involvedObject.name=" + sb.obj.Name})
	if err != nil {
		r.t.Fatal(err)
	}
	spurious := "\x00" // matches no message
	cn, ok := r.clusterNetwork()
	if ok {
		spurious = fmt.Sprintf("cannot find a network-attachment-definition (%s) in namespace (kube-system)", cn)
	}
	var reasons []string
	for _, ev := range list.Items {
		if ev.InvolvedObject.UID != sb.obj.UID {
			continue
		}
		if ev.Reason == "NoNetworkFound" && strings.HasPrefix(ev.Message, spurious) && r.confNamed(cn) {
			o.SpuriousLookups++
			continue
		}
		if !slices.Contains(reasons, ev.Reason) {
			reasons = append(reasons, ev.Reason)
		}
	}
	// Multus sends NoNetworkFound for a NAD it cannot read just before it
	// exits, from a recorder that sends in the background, so the Event is
	// often lost; its error says it was sent.
	if err := o.Errs["ADD "+sb.spec.name]; r.impl.isMultus() && err != nil &&
		sentNoNetworkFound(err.Error()) && !slices.Contains(reasons, "NoNetworkFound") {
		reasons = append(reasons, "NoNetworkFound")
	}
	sort.Strings(reasons)
	return reasons
}

// sentNoNetworkFound says whether a Multus ADD error shows it sent the
// NoNetworkFound Event: reading a NAD failed, or its cluster network was
// neither a NAD (the Event is sent then) nor a conf.
func sentNoNetworkFound(msg string) bool {
	return strings.Contains(msg, "cannot find a network-attachment-definition") || strings.Contains(msg, "failed to get clusterNetwork")
}

// confNamed says whether confDir holds a conf of network name: then
// Multus's NoNetworkFound about it is the spurious one, sent on every ADD,
// failed or not; otherwise the network is truly missing.
func (r *run) confNamed(name string) bool {
	entries, _ := os.ReadDir(filepath.Join(r.dir, "net.d"))
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(r.dir, "net.d", e.Name()))
		var conf struct{ Name string }
		if err == nil && json.Unmarshal(data, &conf) == nil && conf.Name == name {
			return true
		}
	}
	return false
}

// clusterNetwork is the run's clusterNetwork when it is a bare name.
func (r *run) clusterNetwork() (string, bool) {
	cn := "cbr0"
	if v, ok := r.sc.netconf["clusterNetwork"].(string); ok {
		cn = v
	}
	return cn, cn != "" && !strings.Contains(cn, "/")
}

var chainHash = regexp.MustCompile(`CNI-(DN|SN|HOSTPORT)-[0-9a-f]{8,}`)

// nodeRules is the node's iptables state, from the harness's snapshot
// (counters stripped), with container IDs and the chain names hashed from
// them replaced, so runs compare. nftables is the same state seen through
// iptables-nft, with counters that cannot be stripped as reliably.
func (r *run) nodeRules() string {
	r.t.Helper()
	s, err := testenv.Snapshot(r.node.NS)
	if err != nil {
		r.t.Fatal(err)
	}
	rules := r.containerIDs().Replace(s["iptables-save"] + s["ip6tables-save"])
	return chainHash.ReplaceAllString(rules, "CNI-$1-<hash>")
}

// containerIDs replaces each pod's container ID with <cidN>.
func (r *run) containerIDs() *strings.Replacer {
	var pairs []string
	for i, sb := range r.pods {
		pairs = append(pairs, sb.rt.ContainerID, fmt.Sprintf("<cid%d>", i))
	}
	return strings.NewReplacer(pairs...)
}

// leftovers lists what the node still holds after every DEL: links other
// than its own, IPAM files, and cache files, with container IDs replaced
// by <cid> so runs compare.
func (r *run) leftovers() []string {
	r.t.Helper()
	var out []string
	links, err := testenv.Links(r.node.NS)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, l := range links {
		if l != "lo" && l != master && l != "cni0" {
			out = append(out, "node link "+l)
		}
	}
	ids := r.containerIDs()
	walk := func(root, label string, keep func(rel string) bool) {
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(root, path)
			if keep(rel) {
				out = append(out, label+" "+ids.Replace(rel))
			}
			return nil
		})
	}
	walk(filepath.Join(r.dir, "ipam"), "ipam", func(rel string) bool {
		base := filepath.Base(rel)
		return base != "lock" && !strings.HasPrefix(base, "last_reserved_ip")
	})
	walk(filepath.Join(r.dir, "cache"), "cache", cacheEntry)
	walk(filepath.Join(r.node.Dir, "runtime-cache"), "runtime cache", func(string) bool { return true })
	sort.Strings(out)
	return out
}

// cacheEntry tells a meta-plugin's per-container cache file from its
// node-wide files (locks, logs).
func cacheEntry(rel string) bool {
	return !strings.HasSuffix(rel, ".lock") && filepath.Base(rel) != "lock"
}

// observe runs the scenario's pods through ADD, the extra verbs and DEL,
// recording everything the comparison looks at.
func (r *run) observe() *observation {
	t := r.t
	t.Helper()
	o := newObservation()
	if r.sc.prepare != nil {
		r.sc.prepare(r)
	}
	for _, sb := range r.pods {
		err := r.add(sb)
		o.Add[sb.spec.name], o.Errs["ADD "+sb.spec.name] = outcome(err), err
		if err != nil {
			t.Logf("%s: ADD %s: %v", r.impl.name, sb.spec.name, err)
		}
	}
	r.settle()
	for _, sb := range r.pods {
		view, err := netnsView(sb.ns, r.sc.macs)
		if err != nil {
			t.Fatal(err)
		}
		o.AddNetns[sb.spec.name] = view
		o.Status[sb.spec.name] = r.networkStatus(sb)
		o.Events[sb.spec.name] = r.eventReasons(sb, o)
	}
	if r.sc.nodeRules {
		o.Rules = r.nodeRules()
	}
	for _, verb := range r.sc.verbs {
		err := r.verb(verb)
		o.Verbs[verb], o.Errs[verb] = outcome(err), err
		if err != nil {
			t.Logf("%s: %s: %v", r.impl.name, verb, err)
		}
	}
	if r.sc.beforeDel != nil {
		r.sc.beforeDel(r)
	}
	for _, sb := range r.pods {
		err := r.del(sb)
		o.Del[sb.spec.name], o.Errs["DEL "+sb.spec.name] = outcome(err), err
		if err != nil {
			t.Logf("%s: DEL %s: %v", r.impl.name, sb.spec.name, err)
		}
	}
	if r.sc.afterDel != nil {
		r.sc.afterDel(r)
	}
	for _, sb := range r.pods {
		view, err := netnsView(sb.ns, r.sc.macs)
		if err != nil {
			t.Fatal(err)
		}
		o.DelNetns[sb.spec.name] = view
	}
	o.Left = r.leftovers()
	return o
}

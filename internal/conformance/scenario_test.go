package conformance_test

import (
	"strings"
	"testing"
)

// scenario is one situation run through every implementation: the same
// NADs, files and pods, and the same meta-plugin conf with only its
// "type" changed, as a user migrating from Multus would write it.
//
// Configs may name "$DIR" (the scenario's state directory, the same path
// on every run), "$NS" (its namespace) and "$MASTER" (the node's uplink).
type scenario struct {
	name string
	// nads are created once, before the first run.
	nads []nad
	// files are written under $DIR before each run (e.g. "net.d/20-x.conf");
	// net.d/10-cbr0.conflist, the cluster network, is always there unless
	// a file of that name replaces it.
	files map[string]string
	// netconf holds the meta-plugin's fields beyond the harness's own
	// (kubeconfig, confDir, cniDir, cacheDir, logFile): clusterNetwork is
	// "cbr0" unless given.
	netconf map[string]any
	// cniVersion of the meta-plugin's conflist; "1.0.0" unless given.
	cniVersion string
	pods       []pod
	// capabilityArgs are the runtime's runtimeConfig for each ADD and DEL.
	capabilityArgs map[string]any
	// verbs run after every ADD: "CHECK", "STATUS", "GC" (GC with every
	// pod's attachment valid, then DEL runs as usual).
	verbs []string
	// macs compares MAC addresses, which are otherwise random.
	macs bool
	// nodeRules compares the node's nftables and iptables after ADD.
	nodeRules bool
	// prepare runs on each run before the first ADD, beforeDel before the
	// first DEL, afterDel after the last.
	prepare, beforeDel, afterDel func(r *run)
	// meta asserts meta-cni's own behaviour where it deliberately differs
	// from Multus (a declared difference): it sees only meta-cni's run.
	meta func(t *testing.T, o *observation)
}

type nad struct {
	namespace string // "" is the scenario's namespace
	name      string
	config    string
}

type pod struct {
	name        string
	namespace   string // "" is the scenario's namespace
	annotations map[string]string
}

const (
	networksAnnot       = "k8s.v1.cni.cncf.io/networks"
	defaultNetworkAnnot = "v1.multus-cni.io/default-network"
)

// namespace is the scenario's namespace name, a DNS label.
func (s *scenario) namespace() string {
	var b strings.Builder
	b.WriteString("c-")
	for _, r := range strings.ToLower(s.name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := strings.TrimRight(b.String(), "-")
	if len(out) > 63 {
		out = strings.TrimRight(out[:63], "-")
	}
	return out
}

// annotated is a pod with one networks annotation.
func annotated(name, networks string) pod {
	return pod{name: name, annotations: map[string]string{networksAnnot: networks}}
}

// macvlanNAD is a macvlan network on the node's uplink with host-local
// IPAM in subnet, at cniVersion 1.0.0.
func macvlanNAD(name, subnet string) nad {
	return nad{name: name, config: `{"cniVersion": "1.0.0", "type": "macvlan", "master": "$MASTER", "mode": "bridge",
  "ipam": {"type": "host-local", "subnet": "` + subnet + `", "dataDir": "$DIR/ipam"}}`}
}

// clusterConflist is the cluster network every run has: a bridge with
// host-local, standing in for flannel or calico.
const clusterConflist = `{"cniVersion": "1.0.0", "name": "cbr0",
  "plugins": [{"type": "bridge", "bridge": "cni0", "isGateway": true,
    "ipam": {"type": "host-local", "subnet": "10.244.1.0/24", "dataDir": "$DIR/ipam"}}]}`

package conformance_test

import (
	"strings"
	"testing"
)

// What a selection element asks of its delegate: addresses, a MAC,
// CNI args, the default route; with and without the capability.
func init() {
	staticNAD := func(name string, caps string) nad {
		return nad{name: name, config: `{"cniVersion": "1.0.0", "name": "` + name + `", "plugins": [
  {"type": "macvlan", "master": "$MASTER", "mode": "bridge"` + caps + `, "ipam": {"type": "static"}}]}`}
	}
	withCaps := staticNAD("static-caps", `, "capabilities": {"ips": true, "mac": true}`)
	noCaps := staticNAD("static-nocaps", "")
	// Where MACs are compared, eth0's must not be random: the cluster
	// bridge gives it a fixed one.
	fixedEth0 := map[string]string{"net.d/10-cbr0.conflist": `{"cniVersion": "1.0.0", "name": "cbr0",
  "plugins": [{"type": "bridge", "bridge": "cni0", "isGateway": true, "args": {"cni": {"mac": "02:00:00:00:00:e0"}},
    "ipam": {"type": "host-local", "subnet": "10.244.1.0/24", "dataDir": "$DIR/ipam"}}]}`}
	scenarios = append(scenarios,
		&scenario{name: "request-ips-and-mac-with-capability", nads: []nad{withCaps}, macs: true, files: fixedEth0,
			pods: []pod{annotated("p1", `[{"name": "static-caps", "ips": ["192.168.95.7/24"], "mac": "02:00:00:00:95:07"}]`)}},
		&scenario{name: "request-ips-and-mac-without-capability", nads: []nad{noCaps}, macs: true, files: fixedEth0,
			pods: []pod{annotated("p1", `[{"name": "static-nocaps", "ips": ["192.168.95.8/24"], "mac": "02:00:00:00:95:08"}]`)}},
		// The runtime's ips and mac (runtimeConfig) reach the cluster
		// network when the meta-plugin's conf and the delegate declare them.
		&scenario{name: "request-runtime-ips-mac-on-cluster", macs: true,
			files: map[string]string{"net.d/10-cbr0.conflist": `{"cniVersion": "1.0.0", "name": "cbr0",
  "plugins": [{"type": "bridge", "bridge": "cni0", "capabilities": {"ips": true, "mac": true},
    "ipam": {"type": "static"}}]}`},
			netconf:        map[string]any{"capabilities": map[string]any{"ips": true, "mac": true}},
			capabilityArgs: map[string]any{"ips": []string{"10.244.1.50/24"}, "mac": "02:00:00:00:01:50"},
			pods:           []pod{{name: "p1"}},
			// Both agree; this says that what they agree on is the request.
			meta: func(t *testing.T, o *observation) {
				netns := strings.Join(o.AddNetns["p1"], "\n")
				for _, want := range []string{"addr eth0 10.244.1.50/24", "mac=02:00:00:00:01:50"} {
					if !strings.Contains(netns, want) {
						t.Errorf("pod netns lacks %q:\n%s", want, netns)
					}
				}
			}},
		&scenario{name: "request-cni-args", nads: []nad{noCaps},
			pods: []pod{annotated("p1", `[{"name": "static-nocaps", "cni-args": {"ips": ["192.168.95.9/24"]}}]`)}},
		&scenario{name: "request-default-route",
			nads: []nad{{name: "gw-net", config: `{"cniVersion": "1.0.0", "type": "macvlan", "master": "$MASTER", "mode": "bridge",
  "ipam": {"type": "host-local", "subnet": "192.168.96.0/24", "gateway": "192.168.96.1", "dataDir": "$DIR/ipam"}}`}},
			pods: []pod{annotated("p1", `[{"name": "gw-net", "default-route": ["192.168.96.1"]}]`)}},
		&scenario{name: "status-dns-and-routes",
			nads: []nad{{name: "dns-net", config: `{"cniVersion": "1.0.0", "type": "macvlan", "master": "$MASTER", "mode": "bridge",
  "ipam": {"type": "static", "addresses": [{"address": "192.168.97.5/24", "gateway": "192.168.97.1"}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "192.168.97.1"}, {"dst": "10.96.0.0/12"}],
    "dns": {"nameservers": ["192.168.97.53"], "domain": "example.test", "search": ["example.test"]}}}`}},
			pods: []pod{annotated("p1", "dns-net")}},
	)
}

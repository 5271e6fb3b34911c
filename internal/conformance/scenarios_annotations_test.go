package conformance_test

// The networks annotation in each form Multus reads, and its mistakes.
func init() {
	ab := []nad{macvlanNAD("macvlan-a", "192.168.91.0/24"), macvlanNAD("macvlan-b", "192.168.92.0/24")}
	scenarios = append(scenarios,
		&scenario{name: "annotation-comma-form", nads: ab,
			pods: []pod{annotated("p1", "macvlan-a, macvlan-b")}},
		&scenario{name: "annotation-namespace-and-interface", nads: ab,
			pods: []pod{annotated("p1", "$NS/macvlan-a@ext0,macvlan-b")}},
		&scenario{name: "annotation-json-form", nads: ab,
			pods: []pod{annotated("p1", `[{"name": "macvlan-a", "interface": "ext0"}, {"name": "macvlan-b", "namespace": "$NS"}]`)}},
		&scenario{name: "annotation-legacy-interface-request", nads: ab,
			pods: []pod{annotated("p1", `[{"name": "macvlan-a", "interfaceRequest": "legacy0"}]`)}},
		&scenario{name: "annotation-json-key-case", nads: ab,
			pods: []pod{annotated("p1", `[{"Name": "macvlan-a", "Interface": "ext0", "Namespace": "$NS"}]`)}},
		&scenario{name: "annotation-duplicate-interface", nads: ab,
			pods: []pod{annotated("p1", `[{"name": "macvlan-a", "interface": "ext0"}, {"name": "macvlan-b", "interface": "ext0"}]`)},
			meta: refused("p1", 7, "entry 1", `field "interface"`, "ext0")},
		&scenario{name: "annotation-same-network-twice", nads: ab,
			pods: []pod{annotated("p1", "macvlan-a,macvlan-a")}},
		&scenario{name: "annotation-malformed-json", nads: ab,
			pods: []pod{annotated("p1", `[{"name": "macvlan-a"`)},
			meta: refused("p1", 7, "k8s.v1.cni.cncf.io/networks", "not a valid json list")},
		&scenario{name: "annotation-missing-nad", nads: ab,
			pods: []pod{annotated("p1", "macvlan-a,no-such-nad")},
			meta: refused("p1", 7, "no-such-nad", "NetworkAttachmentDefinition not found")},
		&scenario{name: "annotation-empty",
			pods: []pod{annotated("p1", ""), {name: "p2"}}},
		&scenario{name: "nad-empty-config-reads-conf-file",
			nads:  []nad{{name: "from-file", config: ""}},
			files: map[string]string{"net.d/30-from-file.conf": macvlanConf("from-file", "192.168.93.0/24")},
			pods:  []pod{annotated("p1", "from-file")}},
		&scenario{name: "nad-conflist",
			nads: []nad{{name: "chained", config: `{"cniVersion": "1.0.0", "name": "chained", "plugins": [
  {"type": "macvlan", "master": "$MASTER", "mode": "bridge", "ipam": {"type": "host-local", "subnet": "192.168.94.0/24", "dataDir": "$DIR/ipam"}},
  {"type": "tuning", "sysctl": {"net.ipv4.conf.IFNAME.arp_notify": "1"}, "mtu": 1400}]}`}},
			pods: []pod{annotated("p1", "chained")}},
		&scenario{name: "nad-invalid-json",
			nads: []nad{{name: "broken", config: `{"cniVersion": "1.0.0", "type": "macvlan",`}},
			pods: []pod{annotated("p1", "broken")},
			meta: refused("p1", 7, "broken", "not valid JSON")},
	)
}

// macvlanConf is a conf file for confDir, of network name.
func macvlanConf(name, subnet string) string {
	return `{"cniVersion": "1.0.0", "name": "` + name + `", "type": "macvlan", "master": "$MASTER", "mode": "bridge",
  "ipam": {"type": "host-local", "subnet": "` + subnet + `", "dataDir": "$DIR/ipam"}}`
}

package conformance_test

// namespaceIsolation and globalNamespaces, Multus's defaults included.
func init() {
	other := func(namespace, name, subnet string) nad {
		return nad{namespace: namespace, name: name, config: `{"cniVersion": "1.0.0", "type": "macvlan", "master": "$MASTER", "mode": "bridge",
  "ipam": {"type": "host-local", "subnet": "` + subnet + `", "dataDir": "$DIR/ipam"}}`}
	}
	scenarios = append(scenarios,
		&scenario{name: "isolation-other-namespace-refused",
			nads:    []nad{other("c-isolation-elsewhere", "elsewhere", "192.168.103.0/24")},
			netconf: map[string]any{"namespaceIsolation": true},
			pods:    []pod{annotated("p1", "c-isolation-elsewhere/elsewhere")}},
		&scenario{name: "isolation-default-namespace-allowed-by-default",
			nads:    []nad{other("default", "c-shared-default", "192.168.104.0/24")},
			netconf: map[string]any{"namespaceIsolation": true},
			pods:    []pod{annotated("p1", "default/c-shared-default")}},
		&scenario{name: "isolation-multus-namespace-by-default",
			nads:    []nad{other("kube-system", "c-shared-system", "192.168.105.0/24")},
			netconf: map[string]any{"namespaceIsolation": true},
			pods:    []pod{annotated("p1", "kube-system/c-shared-system")}},
		&scenario{name: "isolation-global-namespaces-list",
			nads:    []nad{other("c-isolation-global", "shared", "192.168.106.0/24"), other("default", "c-not-global", "192.168.107.0/24")},
			netconf: map[string]any{"namespaceIsolation": true, "globalNamespaces": "c-isolation-global, kube-system"},
			pods:    []pod{annotated("p1", "c-isolation-global/shared"), annotated("p2", "default/c-not-global")}},
		&scenario{name: "isolation-off-any-namespace",
			nads: []nad{other("c-isolation-elsewhere2", "elsewhere", "192.168.108.0/24")},
			pods: []pod{annotated("p1", "c-isolation-elsewhere2/elsewhere")}},
	)
}

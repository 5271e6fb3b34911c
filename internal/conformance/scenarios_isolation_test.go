package conformance_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

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
			pods:    []pod{annotated("p1", "c-isolation-elsewhere/elsewhere")},
			meta:    refused("p1", 7, "c-isolation-elsewhere/elsewhere", `field "namespace"`, "namespaceIsolation")},
		&scenario{name: "isolation-json-form-other-namespace-refused",
			nads:    []nad{other("c-isolation-elsewhere3", "elsewhere", "192.168.109.0/24")},
			netconf: map[string]any{"namespaceIsolation": true},
			pods:    []pod{annotated("p1", `[{"name": "elsewhere", "namespace": "c-isolation-elsewhere3"}]`)},
			meta:    refused("p1", 7, "c-isolation-elsewhere3/elsewhere", `field "namespace"`, "namespaceIsolation")},
		// Multus resolves default-network without a namespace in
		// multusNamespace and never applies namespaceIsolation to it.
		&scenario{name: "isolation-default-network-unqualified",
			nads:    []nad{other("kube-system", "c-iso-underlay", "192.168.110.0/24")},
			netconf: map[string]any{"namespaceIsolation": true},
			pods:    []pod{{name: "p1", annotations: map[string]string{defaultNetworkAnnot: "c-iso-underlay"}}}},
		&scenario{name: "isolation-default-network-other-namespace",
			nads:    []nad{other("c-isolation-elsewhere4", "underlay", "192.168.111.0/24")},
			netconf: map[string]any{"namespaceIsolation": true},
			pods:    []pod{{name: "p1", annotations: map[string]string{defaultNetworkAnnot: "c-isolation-elsewhere4/underlay"}}},
			meta:    refused("p1", 7, "c-isolation-elsewhere4/underlay", `field "namespace"`, "v1.multus-cni.io/default-network")},
		&scenario{name: "isolation-default-namespace-allowed",
			nads:    []nad{other("default", "c-shared-default", "192.168.104.0/24")},
			netconf: map[string]any{"namespaceIsolation": true},
			pods:    []pod{annotated("p1", "default/c-shared-default")}},
		&scenario{name: "isolation-multus-namespace-by-default",
			nads:    []nad{other("kube-system", "c-shared-system", "192.168.105.0/24")},
			netconf: map[string]any{"namespaceIsolation": true},
			pods:    []pod{annotated("p1", "kube-system/c-shared-system")},
			meta:    refused("p1", 7, "kube-system/c-shared-system", `field "namespace"`, "globalNamespaces")},
		&scenario{name: "isolation-global-namespaces-list",
			nads:    []nad{other("c-isolation-global", "shared", "192.168.106.0/24"), other("default", "c-not-global", "192.168.107.0/24")},
			netconf: map[string]any{"namespaceIsolation": true, "globalNamespaces": "c-isolation-global, kube-system"},
			pods:    []pod{annotated("p1", "c-isolation-global/shared"), annotated("p2", "default/c-not-global")},
			meta:    refused("p2", 7, "default/c-not-global", `field "namespace"`, "namespaceIsolation")},
		&scenario{name: "isolation-off-any-namespace",
			nads: []nad{other("c-isolation-elsewhere2", "elsewhere", "192.168.108.0/24")},
			pods: []pod{annotated("p1", "c-isolation-elsewhere2/elsewhere")}},
	)
}

// refused asserts meta-cni's own answer where Multus fails with its catch-all
// code 999: the spec's code, a message naming the pod and the words given
// (the network, the field), and a pod netns left as it was.
func refused(pod string, code int, words ...string) func(t *testing.T, o *observation) {
	return func(t *testing.T, o *observation) {
		if want := fmt.Sprintf("error code %d", code); o.Add[pod] != want {
			t.Fatalf("ADD %s: %s, want %s", pod, o.Add[pod], want)
		}
		msg := fmt.Sprint(o.Errs["ADD "+pod])
		for _, w := range append([]string{pod}, words...) {
			if !strings.Contains(msg, w) {
				t.Errorf("ADD %s error %q does not name %q", pod, msg, w)
			}
		}
		if want := []string{"link lo device down"}; !reflect.DeepEqual(o.AddNetns[pod], want) {
			t.Errorf("pod %s netns after the refused ADD: %v, want %v", pod, o.AddNetns[pod], want)
		}
	}
}

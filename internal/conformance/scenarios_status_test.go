package conformance_test

import (
	"slices"
	"testing"
)

// A failed ADD always tells the pod why with a Warning Event, where
// Multus's Events deliberately differ (docs/multus-compat.md,
// "network-status and Events") and for a missing NAD, where Multus's
// NoNetworkFound is often lost. The scenarios belong to other
// groups; their meta-cni assertions are added here, after every group's
// init has run (files init in name order), keeping any a group has.
func init() {
	warns := map[string]map[string]string{ // scenario -> pod -> reason
		"annotation-missing-nad":            {"p1": "NoNetworkFound"},
		"annotation-malformed-json":         {"p1": "NetworkResolutionFailed"},
		"annotation-duplicate-interface":    {"p1": "NetworkResolutionFailed"},
		"nad-invalid-json":                  {"p1": "NetworkResolutionFailed"},
		"isolation-other-namespace-refused": {"p1": "NetworkResolutionFailed"},
		"isolation-global-namespaces-list":  {"p2": "NetworkResolutionFailed"},
		"failing-delegate-rolls-back":       {"p1": "NetworkAttachFailed"},
	}
	for _, sc := range scenarios {
		want, ok := warns[sc.name]
		if !ok {
			continue
		}
		delete(warns, sc.name)
		prev := sc.meta
		sc.meta = func(t *testing.T, o *observation) {
			if prev != nil {
				prev(t, o)
			}
			for pod, reason := range want {
				got := o.Events[pod]
				if !slices.Contains(got, reason) {
					t.Errorf("pod %s: Events %v, want a %s Warning saying why ADD failed", pod, got, reason)
				}
				// Its interfaces were removed again: no Event says they were added.
				if slices.Contains(got, "AddedInterface") {
					t.Errorf("pod %s: Events %v include AddedInterface, but its ADD failed", pod, got)
				}
			}
		}
	}
	if len(warns) > 0 {
		panic("scenarios_status_test.go names scenarios that do not exist")
	}
}

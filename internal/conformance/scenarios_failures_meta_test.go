package conformance_test

import (
	"slices"
	"testing"
)

// metaDelCleans: meta-cni's DEL succeeds and leaves nothing behind.
func metaDelCleans(t *testing.T, o *observation) {
	requireOutcome(t, o.Del, "ok")
	requireNothingLeft(t, o)
}

// metaMissingBinary: a network naming a plugin no bin dir holds is
// refused before anything starts, and the runtime's DEL succeeds.
func metaMissingBinary(t *testing.T, o *observation) {
	// Refused before any network starts (code 7), so nothing to undo and
	// the runtime's DEL succeeds.
	requireOutcome(t, o.Add, "error code 7")
	requireOutcome(t, o.Del, "ok")
	for name, view := range o.AddNetns {
		if !slices.Equal(view, []string{"link lo device down"}) {
			t.Errorf("pod %s after the failed ADD, want only lo: %v", name, view)
		}
	}
	requireNothingLeft(t, o)
}

// metaVerbs: CHECK, STATUS and GC succeed, and DEL then cleans up.
func metaVerbs(t *testing.T, o *observation) {
	for _, verb := range []string{"CHECK", "STATUS", "GC"} {
		if o.Verbs[verb] != "ok" {
			t.Errorf("%s: %s (%v)", verb, o.Verbs[verb], o.Errs[verb])
		}
	}
	requireNothingLeft(t, o)
}

func requireOutcome(t *testing.T, got map[string]string, want string) {
	t.Helper()
	for pod, outcome := range got {
		if outcome != want {
			t.Errorf("pod %s: %s, want %s", pod, outcome, want)
		}
	}
}

func requireNothingLeft(t *testing.T, o *observation) {
	t.Helper()
	if len(o.Left) > 0 {
		t.Errorf("after DEL the node still holds %v", o.Left)
	}
}

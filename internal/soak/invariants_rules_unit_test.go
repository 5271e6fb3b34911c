package soak

import (
	"testing"

	"github.com/containernetworking/plugins/pkg/testutils"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// A new netns holds only the kernel's rules, which extraRules leaves
// out; a rule added for either family is listed.
func TestExtraRulesListsOnlyRulesBeyondTheKernels(t *testing.T) {
	testenv.RequireRoot(t)
	netns, err := testutils.NewNS()
	if err != nil {
		t.Fatal(err)
	}
	defer testenv.RemoveNS(netns)
	if got, err := extraRules(netns); err != nil || len(got) != 0 {
		t.Fatalf("a new netns: extra rules %v, %v; want none", got, err)
	}
	undo4 := plantRule(t, netns, "10.1.2.3/32", 100)
	undo6 := plantRule(t, netns, "fd00::1/128", 200)
	got, err := extraRules(netns)
	if err != nil || len(got) != 2 {
		t.Fatalf("after adding two rules: %v, %v; want both", got, err)
	}
	undo4()
	undo6()
	if got, err := extraRules(netns); err != nil || len(got) != 0 {
		t.Errorf("after removing them: %v, %v; want none", got, err)
	}
}

package soak

import (
	"bytes"
	"strings"
	"testing"
)

// A scenario with bad inputs gets a row per kind, with each
// implementation's answers; one without gets no such table.
func TestTablesListEachKindOfBadInputBesideTheReference(t *testing.T) {
	kinds := []KindResult{{Kind: "missing NAD", Want: "7", Inputs: 3, Codes: map[string]int{"7": 3}}}
	ref := []KindResult{{Kind: "missing NAD", Want: "7", Inputs: 3, Codes: map[string]int{"999": 3}, Unclean: 3}}
	var b bytes.Buffer
	err := Tables(&b, []Result{
		{Scenario: "bad-input", Implementation: "meta-cni", Kinds: kinds},
		{Scenario: "bad-input", Implementation: Reference, Kinds: ref},
		{Scenario: "churn/exact", Implementation: "meta-cni"},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if want := "| missing NAD | 7 | 7: 3; 0, 0, 0 | 999: 3; 3, 0, 0 |"; !strings.Contains(out, want) {
		t.Errorf("no row %q in\n%s", want, out)
	}
	if n := strings.Count(out, "| kind of bad input |"); n != 1 {
		t.Errorf("%d kind tables, want 1 (bad-input only):\n%s", n, out)
	}
}

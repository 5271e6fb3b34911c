package soak

import (
	"fmt"
	"io"
	"sort"
)

// KindResult is how one kind of bad input (scenario 8) was answered.
type KindResult struct {
	Kind   string         `json:"kind"`
	Want   string         `json:"want"`   // the CNI code meta-cni must answer with
	Inputs int            `json:"inputs"` // ADDs of this kind sent
	Codes  map[string]int `json:"codes"`  // CNI code -> count; "ok" when the ADD succeeded
	// Unclean counts the answers that were not a clean refusal: the
	// wrong code, or a message that does not name what it must.
	Unclean int `json:"unclean"`
	Panics  int `json:"panics"`
	// LeftBehind counts the ADDs that left an interface in the pod's
	// netns, or a file named after a path-like name.
	LeftBehind int `json:"leftBehind"`
	// DelErrors counts the runtime's DELs of the failed sandboxes that
	// failed, by code.
	DelErrors map[string]int `json:"delErrors,omitempty"`
}

// kindTables writes, for a scenario with bad inputs, one row per kind:
// what each implementation answered.
func kindTables(w io.Writer, row map[string]Result, cols []string) {
	kinds := map[string]bool{}
	for _, r := range row {
		for _, k := range r.Kinds {
			kinds[k.Kind] = true
		}
	}
	if len(kinds) == 0 {
		return
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	header, rule := "| kind of bad input | meta-cni must answer |", "|---|---|"
	for _, c := range cols {
		header += " " + columnName(c) + ": answers; unclean, panics, left behind |"
		rule += "---|"
	}
	fmt.Fprintln(w, header)
	fmt.Fprintln(w, rule)
	for _, name := range names {
		want := ""
		cells := ""
		for _, c := range cols {
			r, ok := row[c]
			if !ok {
				cells += " next session |"
				continue
			}
			cell := "not sent"
			for _, k := range r.Kinds {
				if k.Kind == name {
					want = k.Want
					cell = fmt.Sprintf("%s; %d, %d, %d", errorsByCode(k.Codes), k.Unclean, k.Panics, k.LeftBehind)
				}
			}
			cells += " " + cell + " |"
		}
		fmt.Fprintf(w, "| %s | %s |%s\n", name, want, cells)
	}
	fmt.Fprintln(w)
}

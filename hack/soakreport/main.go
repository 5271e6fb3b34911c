// Command soakreport prints docs/reliability.md's tables from the results
// a soak run wrote (internal/soak; `make soak` says where), so the tables
// are regenerated from a run, never typed by hand.
//
//	go run ./hack/soakreport .cache/soak/full
package main

import (
	"fmt"
	"os"

	"github.com/meta-cni/meta-cni/internal/soak"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: soakreport RESULTS-DIR")
		os.Exit(2)
	}
	rs, err := soak.ReadResults(os.Args[1])
	if err == nil && len(rs) == 0 {
		err = fmt.Errorf("no results in %s", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soakreport:", err)
		os.Exit(1)
	}
	if err := soak.Tables(os.Stdout, rs); err != nil {
		fmt.Fprintln(os.Stderr, "soakreport:", err)
		os.Exit(1)
	}
}

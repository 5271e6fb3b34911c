// Command node brings a real cluster up on this machine and leaves it
// running (`make node-up`), or tears it down (`make node-down`): the
// control plane and the nodes of internal/testenv/realnode, under
// .cache/node/. `up` starts `serve` in the background, which holds the
// cluster until `down` sends it SIGTERM.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: node up|down|serve")
		os.Exit(2)
	}
	dir := filepath.Join(testenv.CacheDir(), "node")
	var err error
	switch os.Args[1] {
	case "up":
		err = up(dir)
	case "down":
		err = down(dir)
	case "serve":
		err = serve(dir)
	default:
		err = fmt.Errorf("unknown command %q: want up, down or serve", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		os.Exit(1)
	}
}

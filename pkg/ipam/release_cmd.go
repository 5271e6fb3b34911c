package ipam

import (
	"context"
	"flag"
	"fmt"
	"io"
)

// ReleaseCommand is `etcd-ipam release CONFIG CONTAINERID IFNAME`: it frees
// what one attachment holds, for an operator whose node died for good, so
// the runtime there will never send DEL. It goes through the same guarded
// delete as DEL, so it never frees an address that another container holds
// now. It returns the exit code.
func ReleaseCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("etcd-ipam release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: etcd-ipam release CONFIG CONTAINERID IFNAME\n\n"+
			"Frees the addresses that container's interface holds in CONFIG's network, as its DEL would.\n"+
			"`etcd-ipam pool CONFIG` lists the holders.")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 3 {
		fs.Usage()
		return 2
	}
	containerID, ifName := fs.Arg(1), fs.Arg(2)
	store, cfg, closeStore, err := openStore(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer closeStore()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Etcd.RequestTimeout)
	defer cancel()
	released, err := store.Release(ctx, containerID, ifName)
	if err != nil {
		fmt.Fprintf(stderr, "release container %s interface %s: %v\n", containerID, ifName, err)
		return 1
	}
	if len(released) == 0 {
		fmt.Fprintf(stdout, "container %s interface %s holds no address: nothing to release\n", containerID, ifName)
		return 0
	}
	for _, a := range released {
		fmt.Fprintf(stdout, "released %s from container %s interface %s\n", a, containerID, ifName)
	}
	return 0
}

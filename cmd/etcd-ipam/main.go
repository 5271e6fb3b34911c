// Command etcd-ipam is the IPAM plugin that allocates addresses from etcd,
// cluster-wide. `etcd-ipam pool CONFIG` shows a pool to an operator, and
// `etcd-ipam release CONFIG CONTAINERID IFNAME` frees a dead node's address.
package main

import (
	"os"
	"runtime/debug"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/meta-cni/meta-cni/pkg/ipam"
	"github.com/meta-cni/meta-cni/pkg/release"
)

func main() {
	// A plugin run lives for milliseconds and allocates a few MB: garbage
	// collection would only add latency to the pod's ADD.
	debug.SetGCPercent(-1)
	if len(os.Args) > 1 && os.Getenv("CNI_COMMAND") == "" {
		switch os.Args[1] {
		case "pool":
			os.Exit(ipam.PoolCommand(os.Args[2:], os.Stdout, os.Stderr))
		case "release":
			os.Exit(ipam.ReleaseCommand(os.Args[2:], os.Stdout, os.Stderr))
		}
	}
	skel.PluginMainFuncs(ipam.Funcs(), version.All, release.About("etcd-ipam", "cluster-wide IPAM in etcd"))
}

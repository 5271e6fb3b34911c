// Command etcd-ipam is the IPAM plugin that allocates addresses from etcd,
// cluster-wide. `etcd-ipam pool CONFIG` shows a pool to an operator.
package main

import (
	"os"
	"runtime/debug"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/meta-cni/meta-cni/pkg/ipam"
)

func main() {
	// A plugin run lives for milliseconds and allocates a few MB: garbage
	// collection would only add latency to the pod's ADD.
	debug.SetGCPercent(-1)
	if len(os.Args) > 1 && os.Args[1] == "pool" && os.Getenv("CNI_COMMAND") == "" {
		os.Exit(ipam.PoolCommand(os.Args[2:], os.Stdout, os.Stderr))
	}
	skel.PluginMainFuncs(ipam.Funcs(), version.All, "etcd-ipam: cluster-wide IPAM in etcd")
}

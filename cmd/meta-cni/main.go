// Command meta-cni is the meta-plugin the container runtime calls. It only
// wires the CNI verbs to pkg/metacni, and reports each run to the node's
// meta-cni-daemon once it has answered.
package main

import (
	"os"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/meta-cni/meta-cni/pkg/config"
	"github.com/meta-cni/meta-cni/pkg/metacni"
	"github.com/meta-cni/meta-cni/pkg/release"
)

func main() {
	start := time.Now()
	p := &metacni.Plugin{}
	err := skel.PluginMainFuncsWithError(skel.CNIFuncs{
		Add:    p.Add,
		Del:    p.Del,
		Check:  p.Check,
		Status: p.Status,
		GC:     p.GC,
	}, version.PluginSupports(config.SupportedVersions...), release.About("meta-cni", "Multus-compatible meta-plugin for multiple and default networks"))
	err = metacni.WithPod(err, os.Getenv("CNI_ARGS"))
	if err != nil {
		_ = err.Print()
	}
	p.Report(os.Getenv("CNI_COMMAND"), time.Since(start), err)
	if err != nil {
		os.Exit(1)
	}
}

// Command meta-cni is the meta-plugin the container runtime calls. It only
// wires the CNI verbs to pkg/metacni.
package main

import (
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/meta-cni/meta-cni/pkg/config"
	"github.com/meta-cni/meta-cni/pkg/metacni"
)

func main() {
	p := &metacni.Plugin{}
	skel.PluginMainFuncs(skel.CNIFuncs{
		Add:    p.Add,
		Del:    p.Del,
		Check:  p.Check,
		Status: p.Status,
		GC:     p.GC,
	}, version.PluginSupports(config.SupportedVersions...), "meta-cni: Multus-compatible meta-plugin for multiple and default networks")
}

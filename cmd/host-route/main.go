// Command host-route is a chained CNI plugin that gives a macvlan pod a path
// to its own host and to the host's Service rules. See README.md.
package main

import (
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/meta-cni/meta-cni/pkg/release"
	"github.com/meta-cni/meta-cni/pkg/routing"
)

func main() {
	skel.PluginMainFuncs(routing.Funcs(), version.PluginSupports("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"), release.About("host-route", "pod-to-host and pod-to-Service reachability for macvlan pods"))
}

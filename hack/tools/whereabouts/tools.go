//go:build tools

// Package tools pins Whereabouts v0.9.2, the IPAM of the reference install
// (Multus thin + Whereabouts) that the soak harness runs beside meta-cni:
// its CNI plugin (cmd) and its node agent's ip-control-loop, which
// reclaims the addresses of deleted pods.
package tools

import (
	_ "github.com/k8snetworkplumbingwg/whereabouts/cmd"
	_ "github.com/k8snetworkplumbingwg/whereabouts/cmd/controlloop"
)

//go:build tools

// Package tools pins the Multus thin plugin (v4.3.0) that the conformance suite
// runs beside meta-cni as the reference for Multus behaviour.
package tools

import _ "gopkg.in/k8snetworkplumbingwg/multus-cni.v4/cmd/multus"

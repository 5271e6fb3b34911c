package testenv

import "fmt"

// MultusVersions are the Multus releases the conformance suite runs beside
// meta-cni, each pinned by a tool module under hack/tools: v4.2.3 is the
// reference the issue names, v4.3.0 the newest release the proxy serves.
var MultusVersions = []MultusVersion{
	{Version: "v4.2.3", Module: "multus"},
	{Version: "v4.3.0", Module: "multus-next"},
}

// MultusVersion is one pinned Multus release.
type MultusVersion struct {
	Version string // e.g. "v4.2.3"
	Module  string // its tool module under hack/tools
}

// MultusBinary builds Multus's thin plugin (cmd/multus) of release v from
// its tool module into .cache/tools (once) and returns its path.
func MultusBinary(v MultusVersion) (string, error) {
	path, err := buildTool(v.Module, "gopkg.in/k8snetworkplumbingwg/multus-cni.v4/cmd/multus", "multus-"+v.Version)
	if err != nil {
		return "", fmt.Errorf("build Multus %s: %w", v.Version, err)
	}
	return path, nil
}

package delegate

import (
	"github.com/containernetworking/cni/libcni"
)

// Plugins parses a network config (a single conf or a conflist) into the
// list an ADD runs: Build's rules pick the list (an exact "plugins" key, or
// one plugin), and libcni's pick each plugin's type and capabilities (a
// case-insensitive struct decode of the plugin re-encoded with sorted keys,
// so which of "capabilities" and "Capabilities" counts does not depend on
// their order in the file). Code that
// acts on what a config will run (skipping meta-cni's own conf, counting
// pools) reads it here rather than with a decode of its own, which
// encoding/json makes case-insensitive at every level where libcni is not.
// cniVersion is the version given to a config that names none.
func Plugins(network, defaultName string, config []byte, cniVersion string) (*libcni.NetworkConfigList, error) {
	d, err := Build(network, defaultName, "", config, cniVersion, Request{})
	if err != nil {
		return nil, err
	}
	return d.confList()
}

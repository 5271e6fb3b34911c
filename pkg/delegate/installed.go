package delegate

import (
	"fmt"

	"github.com/containernetworking/cni/libcni"
)

// pluginFinder is a CNI that can tell whether a plugin binary is
// installed; a CNI without it (a test's fake) has every plugin.
type pluginFinder interface {
	FindPlugin(pluginType string) error
}

// FindPlugin looks the plugin up in the bin dirs as an ADD would.
func (c *libCNI) FindPlugin(pluginType string) error {
	_, err := c.exec.FindInPath(pluginType, c.Path)
	return err
}

// NotInstalledError is a delegate whose conflist names a plugin (or an
// IPAM plugin) that no bin dir holds. Nothing of it can run, so nothing of
// it was ever started.
type NotInstalledError struct {
	Network, IfName string
	Field           string // "plugins[1].type", "plugins[0].ipam.type"
	Type            string
	Err             error
}

func (e *NotInstalledError) Error() string {
	return fmt.Sprintf("network %s (%s) field %q: plugin %q is not installed: %v", e.Network, e.IfName, e.Field, e.Type, e.Err)
}

func (e *NotInstalledError) Unwrap() error { return e.Err }

// Installed checks that every plugin d's conflist names, and each one's
// IPAM plugin, is in the bin dirs: a delegate that cannot run is refused
// before anything of the pod starts, rather than failing halfway and
// leaving a DEL that can never succeed.
func (rn *Runner) Installed(d *Delegate) error {
	finder, ok := rn.CNI.(pluginFinder)
	if !ok {
		return nil
	}
	list, err := libcni.ConfListFromBytes(d.ConfList)
	if err != nil {
		return &Error{Network: d.Network, IfName: d.IfName, Op: "parse", Err: err}
	}
	for i, p := range list.Plugins {
		checks := [][2]string{{fmt.Sprintf("plugins[%d].type", i), p.Network.Type}}
		if p.Network.IPAM.Type != "" {
			checks = append(checks, [2]string{fmt.Sprintf("plugins[%d].ipam.type", i), p.Network.IPAM.Type})
		}
		for _, c := range checks {
			if err := finder.FindPlugin(c[1]); err != nil {
				return &NotInstalledError{Network: d.Network, IfName: d.IfName, Field: c[0], Type: c[1], Err: err}
			}
		}
	}
	return nil
}

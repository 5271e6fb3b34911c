package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/containernetworking/cni/pkg/version"

	"github.com/meta-cni/meta-cni/pkg/delegate"
)

// confExtensions are the network config files a runtime loads from its conf
// dir (containerd and CRI-O both read these three through libcni).
var confExtensions = []string{".conf", ".conflist", ".json"}

// clusterConf is the cluster network's conf that auto mode chose: the first
// network config of the conf dir, in the runtime's order, that is not
// meta-cni's.
type clusterConf struct {
	// name is the file's name in the conf dir.
	name string
	// capabilities are what any of its plugins declares, so meta-cni's conf
	// asks the runtime for them too and hostPort keeps working.
	capabilities map[string]bool
}

// fileName is "" for no choice yet.
func (c *clusterConf) fileName() string {
	if c == nil {
		return ""
	}
	return c.name
}

func (c *clusterConf) equal(o *clusterConf) bool {
	return c != nil && o != nil && c.name == o.name && maps.Equal(c.capabilities, o.capabilities)
}

// ClusterConfError says why the first candidate conf cannot be used yet,
// typically because its installer is still writing it.
type ClusterConfError struct {
	File string
	Err  error
}

func (e *ClusterConfError) Error() string {
	return fmt.Sprintf("cluster network conf %s: %v", e.File, e.Err)
}

func (e *ClusterConfError) Unwrap() error { return e.Err }

// firstClusterConf picks the cluster network in dir by the runtime's rule:
// file names in byte order, the first with a conf extension. It skips
// ownName, the daemon's temp files and any conf whose plugins include
// meta-cni, so meta-cni never delegates to itself. found is false when dir
// holds no other conf (or does not exist yet).
func firstClusterConf(dir, ownName string) (c clusterConf, found bool, err error) {
	entries, err := os.ReadDir(dir) // sorted by name, as libcni.ConfFiles lists
	if errors.Is(err, os.ErrNotExist) {
		return clusterConf{}, false, nil
	}
	if err != nil {
		return clusterConf{}, false, fmt.Errorf("list conf dir %s: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == ownName || strings.HasPrefix(name, tempPrefix) || !isConfName(name) {
			continue
		}
		if !utf8.ValidString(name) {
			// Written into JSON it would become another name.
			return clusterConf{}, false, &ClusterConfError{File: filepath.Join(dir, name), Err: errors.New("the file name is not valid UTF-8, so meta-cni's conflist cannot name it: rename it")}
		}
		caps, own, err := readClusterConf(filepath.Join(dir, name))
		if err != nil {
			return clusterConf{}, false, &ClusterConfError{File: filepath.Join(dir, name), Err: err}
		}
		if own {
			continue
		}
		return clusterConf{name: name, capabilities: caps}, true, nil
	}
	return clusterConf{}, false, nil
}

func isConfName(name string) bool {
	for _, ext := range confExtensions {
		if filepath.Ext(name) == ext {
			return true
		}
	}
	return false
}

// readClusterConf reads the plugin types and capabilities of a conf or
// conflist as meta-cni runs it (delegate.Plugins: libcni's reading, not
// encoding/json's case-insensitive one); own says one of its plugins is
// meta-cni.
func readClusterConf(path string) (caps map[string]bool, own bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, err
	}
	base := filepath.Base(path)
	list, err := delegate.Plugins("file:"+path, strings.TrimSuffix(base, filepath.Ext(base)), data, version.Current())
	if err != nil {
		return nil, false, fmt.Errorf("not a network config: %w", err)
	}
	caps = map[string]bool{}
	for _, p := range list.Plugins {
		if p.Network.Type == pluginType {
			own = true
		}
		for k, v := range p.Network.Capabilities {
			if v {
				caps[k] = true
			}
		}
	}
	return caps, own, nil
}

// autoClusterNetwork reports whether a meta-cni plugin object leaves the
// cluster network to the daemon: it names neither clusterNetwork nor
// delegates, as the chart renders it by default. A field of the wrong type
// is not absent: the NetConf check reports it.
func autoClusterNetwork(plugin map[string]json.RawMessage) bool {
	return absent(plugin["clusterNetwork"], `""`) && absent(plugin["delegates"], `[]`)
}

func absent(raw json.RawMessage, empty string) bool {
	v := strings.TrimSpace(string(raw))
	return v == "" || v == "null" || strings.ReplaceAll(v, " ", "") == empty
}

// withClusterConf sets the plugin's clusterNetwork to the chosen conf's path
// as the host sees it, and adds its capabilities to those the plugin
// declares; a capability the chart sets, true or false, is kept.
func withClusterConf(plugin map[string]json.RawMessage, hostConfDir string, c *clusterConf) error {
	path, _ := json.Marshal(filepath.Join(hostConfDir, c.name))
	plugin["clusterNetwork"] = path
	if len(c.capabilities) == 0 {
		return nil
	}
	caps := map[string]bool{}
	if raw, ok := plugin["capabilities"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &caps); err != nil {
			return fmt.Errorf("must be an object of booleans: %w", err)
		}
	}
	explicit := maps.Clone(caps)
	for k := range c.capabilities {
		if _, set := explicit[k]; !set {
			caps[k] = true
		}
	}
	raw, err := json.Marshal(caps)
	if err != nil {
		return err
	}
	plugin["capabilities"] = raw
	return nil
}

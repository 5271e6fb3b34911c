package metacni

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/containernetworking/cni/pkg/version"

	"github.com/meta-cni/meta-cni/pkg/delegate"
)

// confDir indexes the network configs in a directory by their name. It
// reads the directory once, and only when a lookup needs it.
type confDir struct {
	dir   string
	once  sync.Once
	files map[string]confFile
}

type confFile struct {
	path string
	data []byte
	name string
}

func (c *confDir) lookup(name string) (confFile, bool) {
	c.once.Do(c.load)
	f, ok := c.files[name]
	return f, ok
}

func (c *confDir) load() {
	c.files = map[string]confFile{}
	for _, path := range confPaths(c.dir) {
		f, own, err := readConf(path)
		if err != nil || own || f.name == "" {
			continue
		}
		if _, dup := c.files[f.name]; !dup {
			c.files[f.name] = f
		}
	}
}

// confPaths lists a directory's network configs in name order, the order
// libcni and Multus read them in.
func confPaths(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var paths []string
	for _, e := range entries {
		switch filepath.Ext(e.Name()) {
		case ".conf", ".conflist", ".json":
			if !e.IsDir() {
				paths = append(paths, filepath.Join(dir, e.Name()))
			}
		}
	}
	sort.Strings(paths)
	return paths
}

// readConf reads a network config; own says it is meta-cni's own conf,
// which lives in the same directories and must never be delegated to: any
// of the plugins an ADD would run from it is meta-cni. A config Build
// refuses runs nothing, so it is indexed and refused when used.
func readConf(path string) (f confFile, own bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return confFile{}, false, err
	}
	// The name as Build and libcni read it: an exact key of an object.
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return confFile{}, false, err
	}
	var name string
	_ = json.Unmarshal(top["name"], &name)
	if list, err := delegate.Plugins("file:"+path, "conf", data, version.Current()); err == nil {
		for _, p := range list.Plugins {
			own = own || p.Network.Type == "meta-cni"
		}
	}
	return confFile{path: path, data: data, name: name}, own, nil
}

// dirSource is a network given as a directory: its first config in name
// order, as Multus (k8sclient.getNetDelegate) takes it, skipping meta-cni's own.
func dirSource(dir string) (*source, error) {
	for _, path := range confPaths(dir) {
		f, own, err := readConf(path)
		if own {
			continue
		}
		if err != nil {
			return nil, &NetworkError{Network: "file:" + path, Reason: "cannot read the first network config of directory " + dir, Err: err}
		}
		base := filepath.Base(path)
		return &source{network: "file:" + path, defaultName: base[:len(base)-len(filepath.Ext(base))], config: f.data}, nil
	}
	return nil, &NetworkError{Network: "file:" + dir, Reason: fmt.Sprintf("directory %s holds no network config (.conf, .conflist or .json) other than meta-cni's own", dir)}
}

package daemon

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

// libcniEtcdIPAMCount is how many plugins libcni runs from config whose
// IPAM is etcd-ipam, reading it as meta-cni hands it over: a list when it
// has a "plugins" key, one plugin otherwise, named after the NAD when it
// names no network. ok is false when libcni refuses it.
func libcniEtcdIPAMCount(config []byte, nad string) (n int, ok bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(config, &top) != nil || top == nil {
		return 0, false
	}
	var name string
	if json.Unmarshal(top["name"], &name) != nil || name == "" {
		top["name"], _ = json.Marshal(nad)
		config, _ = json.Marshal(top)
	}
	var plugins []*libcni.PluginConfig
	if _, isList := top["plugins"]; isList {
		list, err := libcni.ConfListFromBytes(config)
		if err != nil {
			return 0, false
		}
		plugins = list.Plugins
	} else {
		p, err := libcni.ConfFromBytes(config)
		if err != nil {
			return 0, false
		}
		plugins = []*libcni.PluginConfig{p}
	}
	for _, p := range plugins {
		var conf types.NetConf
		if json.Unmarshal(p.Bytes, &conf) == nil && conf.IPAM.Type == "etcd-ipam" {
			n++
		}
	}
	return n, true
}

// FuzzEtcdIPAMConfs reads NAD spec.configs, which any user who may create a
// NAD writes, as the elected daemon does to count pools. Every conf it
// hands etcd-ipam is a plugin whose IPAM is etcd-ipam, named and versioned;
// an accepted config yields exactly as many as libcni runs from the same
// bytes; a refused one names spec.config.
func FuzzEtcdIPAMConfs(f *testing.F) {
	for _, s := range []string{
		``,
		`{"cniVersion":"1.0.0","name":"m","type":"macvlan","ipam":{"type":"etcd-ipam","subnet":"10.0.0.0/24"}}`,
		`{"cniVersion":"1.0.0","name":"m","plugins":[{"type":"macvlan","ipam":{"type":"etcd-ipam","subnet":"10.0.0.0/24"}},{"type":"host-route"},{"type":"x","ipam":{"type":"etcd-ipam"}}]}`,
		`{"name":"m","plugins":[{"ipam":{"type":"host-local"}}]}`,
		`{"name":"m","ipam":"etcd-ipam"}`,
		`{"name":"m","IPAM":{"type":"etcd-ipam"},"Plugins":null}`,
		`{"name":"m","type":"bridge","Plugins":[{"type":"macvlan","ipam":{"type":"etcd-ipam"}}]}`,
		`{"name":"m","plugins":[{"type":"macvlan","ipam":{"type":"etcd-ipam"}}],"Plugins":[]}`,
		`{"name":"m","plugins":[{"type":"macvlan","IPAM":{"type":"host-local"},"ipam":{"type":"etcd-ipam"}}]}`,
		`{"plugins":[null,{"ipam":null}]}`,
		`[]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, config string) {
		confs, err := etcdIPAMConfs("nad-a", config)
		if err != nil {
			if confs != nil || !strings.Contains(err.Error(), "spec.config") {
				t.Fatalf("confs %q with error %v", confs, err)
			}
			return
		}
		if config == "" {
			if confs != nil {
				t.Fatalf("confs %q from an empty config", confs)
			}
			return
		}
		want, ok := libcniEtcdIPAMCount([]byte(config), "nad-a")
		if !ok {
			t.Fatalf("counted %d confs from %q, which libcni refuses", len(confs), config)
		}
		if len(confs) != want {
			t.Fatalf("%d etcd-ipam confs from %q, libcni runs %d", len(confs), config, want)
		}
		var top map[string]any
		_ = json.Unmarshal([]byte(config), &top)
		wantName, _ := top["name"].(string)
		if wantName == "" {
			wantName = "nad-a"
		}
		for i, c := range confs {
			var conf types.NetConf
			if err := json.Unmarshal(c, &conf); err != nil {
				t.Fatalf("conf %d %s: %v", i, c, err)
			}
			if conf.IPAM.Type != "etcd-ipam" || conf.Name != wantName || conf.CNIVersion == "" {
				t.Fatalf("conf %d %s from %q", i, c, config)
			}
		}
	})
}

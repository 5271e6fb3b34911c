package daemon

import (
	"encoding/json"
	"testing"
)

// FuzzEtcdIPAMConfs reads NAD spec.configs, which any user who may create a
// NAD writes, as the elected daemon does to count pools: each conf it
// hands etcd-ipam carries an etcd-ipam block of the NAD and the NAD's name
// and cniVersion, and there are never more than the NAD has plugins.
func FuzzEtcdIPAMConfs(f *testing.F) {
	for _, s := range []string{
		``,
		`{"cniVersion":"1.0.0","name":"m","type":"macvlan","ipam":{"type":"etcd-ipam","subnet":"10.0.0.0/24"}}`,
		`{"cniVersion":"1.0.0","name":"m","plugins":[{"type":"macvlan","ipam":{"type":"etcd-ipam","subnet":"10.0.0.0/24"}},{"type":"host-route"},{"type":"x","ipam":{"type":"etcd-ipam"}}]}`,
		`{"name":"m","plugins":[{"ipam":{"type":"host-local"}}]}`,
		`{"name":"m","ipam":"etcd-ipam"}`,
		`{"name":"m","IPAM":{"type":"etcd-ipam"},"Plugins":null}`,
		`{"plugins":[null,{"ipam":null}]}`,
		`[]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, config string) {
		confs, err := etcdIPAMConfs(config)
		if err != nil {
			if confs != nil {
				t.Fatalf("confs %q with error %v", confs, err)
			}
			return
		}
		var top struct {
			CNIVersion string            `json:"cniVersion"`
			Name       string            `json:"name"`
			Plugins    []json.RawMessage `json:"plugins"`
		}
		if len(confs) > 0 {
			if err := json.Unmarshal([]byte(config), &top); err != nil {
				t.Fatalf("accepted %q that does not parse: %v", config, err)
			}
		}
		if max := max(len(top.Plugins), 1); len(confs) > max {
			t.Fatalf("%d confs from a NAD of %d plugins", len(confs), max)
		}
		for i, c := range confs {
			var conf struct {
				CNIVersion string `json:"cniVersion"`
				Name       string `json:"name"`
				IPAM       struct {
					Type string `json:"type"`
				} `json:"ipam"`
			}
			if err := json.Unmarshal(c, &conf); err != nil {
				t.Fatalf("conf %d %s: %v", i, c, err)
			}
			if conf.IPAM.Type != "etcd-ipam" || conf.Name != top.Name || conf.CNIVersion != top.CNIVersion {
				t.Fatalf("conf %d %s from %q", i, c, config)
			}
		}
	})
}

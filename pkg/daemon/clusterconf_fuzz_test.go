package daemon

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/meta-cni/meta-cni/pkg/delegate"
)

// FuzzFirstClusterConf puts any file another CNI or an operator can drop
// in the conf dir first, before a bridge conf, and lets auto mode choose
// the cluster network and install meta-cni's conflist for it. A file an
// ADD would run meta-cni from is skipped for the next conf; any other
// that meta-cni can run is chosen, with the capabilities libcni reads from
// its plugins, and the installed conflist asks for them; a file meta-cni
// cannot run is a ClusterConfError naming it, and nothing is chosen.
func FuzzFirstClusterConf(f *testing.F) {
	for _, s := range []string{
		bridgeConf, ownConflist, singleConf, portmapChain,
		`{"cniVersion":"1.0.0","name":"k8s-pod-network","plugins":[{"type":"calico","ipam":{"type":"calico-ipam"}},{"type":"portmap","snat":true,"capabilities":{"portMappings":true}}]}`,
		`{"cniVersion":"0.3.1","name":"cni0","plugins":[{"type":"macvlan","master":"enp5s0f0","ipam":{"type":"etcd","subnet":"10.10.20.0/24"}},{"type":"veth-to-host","hostInterface":"enp5s0f0"}]}`,
		`{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"meta-cni"}],"Plugins":[{"type":"bridge"}]}`,
		`{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"bridge"}],"Plugins":[{"type":"meta-cni"}]}`,
		`{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"portmap","capabilities":{"portMappings":true},"Capabilities":{"bandwidth":true}}]}`,
		`{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"bridge"},{"type":"meta-cni"}]}`,
		`{"cniVersion":"1.0.0","name":"x","type":"bridge","capabilities":{"portMappings":"yes"}}`,
		`{"name":5,"type":"bridge"}`, `{"cniVersion":"1.0.0","na`, `null`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	// One directory per fuzzing process, its first candidate rewritten for
	// each input: a directory made and removed per input slows the fuzzer
	// to a crawl.
	dir := f.TempDir()
	for name, content := range map[string]string{"00-meta-cni.conflist": ownConflist, "20-bridge.conflist": bridgeConf} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		writeFile(t, filepath.Join(dir, "10-x.conflist"), string(data), 0o644)

		// What an ADD delegating to the file runs, read as meta-cni runs it.
		runs, wantCaps, ok := false, map[string]bool{}, false
		if d, err := delegate.Build("file:x", "x", "eth0", data, version.Current(), delegate.Request{}); err == nil {
			list, err := libcni.ConfListFromBytes(d.ConfList)
			if err != nil {
				t.Fatalf("libcni refuses what Build made of %q: %v", data, err)
			}
			ok = true
			for _, p := range list.Plugins {
				runs = runs || p.Network.Type == pluginType
				for k, v := range p.Network.Capabilities {
					if v {
						wantCaps[k] = true
					}
				}
			}
		}

		c, found, err := firstClusterConf(dir, "00-meta-cni.conflist")
		switch {
		case !ok:
			var ce *ClusterConfError
			if found || !errors.As(err, &ce) || ce.File != filepath.Join(dir, "10-x.conflist") {
				t.Fatalf("%q, which meta-cni cannot run: chose %+v (%v), err %v; want a ClusterConfError naming it", data, c, found, err)
			}
			return
		case err != nil:
			t.Fatalf("%q: %v", data, err)
		case runs:
			if c.name != "20-bridge.conflist" {
				t.Fatalf("%q runs meta-cni; chose %q, want the next conf", data, c.name)
			}
			return
		case c.name != "10-x.conflist" || !maps.Equal(c.capabilities, wantCaps):
			t.Fatalf("%q: chose %q with %v, want it with %v", data, c.name, c.capabilities, wantCaps)
		}

		chart := `{"cniVersion":"1.0.0","name":"meta-cni","plugins":[{"type":"meta-cni"}]}`
		out, auto, err := rewriteConflist("chart.conflist", []byte(chart), conflistInputs{kubeconfig: "/k", hostConfDir: "/etc/cni/net.d", cluster: &c})
		if err != nil || !auto {
			t.Fatalf("installing for %q: auto %v, %v", data, auto, err)
		}
		clusterNetwork, caps := installedMetaCNI(t, out)
		if clusterNetwork != "/etc/cni/net.d/10-x.conflist" {
			t.Fatalf("installed clusterNetwork %q", clusterNetwork)
		}
		for k := range wantCaps {
			if !caps[k] {
				t.Fatalf("installed conflist does not ask for %s, which %q declares: %s", k, data, out)
			}
		}
	})
}

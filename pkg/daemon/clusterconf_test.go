package daemon

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/containernetworking/cni/libcni"
)

const (
	bridgeConf   = `{"cniVersion":"1.0.0","name":"cbr0","plugins":[{"type":"bridge","bridge":"cni0"}]}`
	ownConflist  = `{"cniVersion":"1.1.0","name":"meta-cni","plugins":[{"type":"meta-cni","clusterNetwork":"cbr0"}]}`
	singleConf   = `{"cniVersion":"0.3.1","name":"flat","type":"ptp","capabilities":{"bandwidth":true}}`
	portmapChain = `{"cniVersion":"1.0.0","name":"k8s-pod-network","plugins":[{"type":"calico"},
  {"type":"portmap","capabilities":{"portMappings":true}},{"type":"bandwidth","capabilities":{"bandwidth":true,"ips":false}}]}`
)

func TestFirstClusterConfFollowsTheRuntimesOrderAndSkipsMetaCNI(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		dirs     []string
		want     string
		wantCaps map[string]bool
		wantErr  bool
	}{
		{name: "empty dir has none"},
		{name: "meta-cni's own conflist is never chosen", files: map[string]string{"00-meta-cni.conflist": ownConflist}},
		{name: "the first other conf by name", files: map[string]string{
			"00-meta-cni.conflist": ownConflist, "10-bridge.conflist": bridgeConf, "20-later.conflist": bridgeConf},
			want: "10-bridge.conflist", wantCaps: map[string]bool{}},
		{name: ".conf and .json count, byte order decides", files: map[string]string{
			"10-flat.json": singleConf, "10-flat.conf": bridgeConf}, want: "10-flat.conf", wantCaps: map[string]bool{}},
		{name: "other extensions, directories and the daemon's temp files are skipped", files: map[string]string{
			"01-notes.txt": "x", "02-cni.conflist.old": "x", ".meta-cni-daemon-00-meta-cni.conflist-123": ownConflist,
			".meta-cni-daemon-x.conflist": "{half", "30-bridge.conflist": bridgeConf},
			dirs: []string{"05-dir.conf", "meta-cni.d"}, want: "30-bridge.conflist", wantCaps: map[string]bool{}},
		{name: "a conf with a meta-cni plugin under another name is skipped", files: map[string]string{
			"05-old-meta-cni.conflist": ownConflist, "10-bridge.conflist": bridgeConf}, want: "10-bridge.conflist", wantCaps: map[string]bool{}},
		{name: "capabilities of every plugin, true ones only", files: map[string]string{"10-calico.conflist": portmapChain},
			want: "10-calico.conflist", wantCaps: map[string]bool{"portMappings": true, "bandwidth": true}},
		{name: "a single conf's own capabilities", files: map[string]string{"10-flat.conf": singleConf},
			want: "10-flat.conf", wantCaps: map[string]bool{"bandwidth": true}},
		{name: "a half-written first conf is an error, not skipped", files: map[string]string{
			"10-half.conflist": `{"cniVersion":"1.0.0","na`, "20-bridge.conflist": bridgeConf}, wantErr: true},
		// Found by FuzzRewriteConflist: JSON turned the name into another.
		{name: "a file name that is not UTF-8 is an error, not renamed", files: map[string]string{
			"10-\xb1.conflist": bridgeConf, "20-bridge.conflist": bridgeConf}, wantErr: true},
		{name: "a plugin without a type is an error", files: map[string]string{
			"10-bad.conflist": `{"cniVersion":"1.0.0","name":"x","plugins":[{"bridge":"cni0"}]}`}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				writeFile(t, filepath.Join(dir, name), content, 0o644)
			}
			for _, d := range tc.dirs {
				if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			c, found, err := firstClusterConf(dir, "00-meta-cni.conflist")
			if tc.wantErr {
				var ce *ClusterConfError
				if !errors.As(err, &ce) || filepath.Dir(ce.File) != dir {
					t.Fatalf("got %+v, %v, %v; want a ClusterConfError naming the file", c, found, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if found != (tc.want != "") || c.name != tc.want {
				t.Fatalf("chose %q (found %v), want %q", c.name, found, tc.want)
			}
			if found && !maps.Equal(c.capabilities, tc.wantCaps) {
				t.Errorf("capabilities %v, want %v", c.capabilities, tc.wantCaps)
			}
		})
	}
}

func TestFirstClusterConfOfAMissingDirIsNoneYet(t *testing.T) {
	_, found, err := firstClusterConf(filepath.Join(t.TempDir(), "net.d"), "00-meta-cni.conflist")
	if found || err != nil {
		t.Fatalf("found %v, err %v; want none and no error", found, err)
	}
}

// installedMetaCNI reads the clusterNetwork and capabilities of the
// meta-cni entry of a conflist rewriteConflist wrote.
func installedMetaCNI(t *testing.T, conflist []byte) (clusterNetwork string, caps map[string]bool) {
	t.Helper()
	p := metaCNIEntry(t, conflist)
	clusterNetwork, _ = p["clusterNetwork"].(string)
	raw, _ := p["capabilities"].(map[string]any)
	caps = map[string]bool{}
	for k, v := range raw {
		b, ok := v.(bool)
		if !ok {
			t.Fatalf("capability %q is %v, not a bool: %s", k, v, conflist)
		}
		caps[k] = b
	}
	return clusterNetwork, caps
}

func TestAutoConflistNamesTheConfByHostPathAndAddsItsCapabilities(t *testing.T) {
	chart := `{"cniVersion":"1.1.0","name":"meta-cni","plugins":[{"type":"meta-cni","capabilities":{"bandwidth":false,"io.kubernetes.cri.pod-annotations":true}}]}`
	in := conflistInputs{kubeconfig: "/k", hostConfDir: "/etc/cni/net.d",
		cluster: &clusterConf{name: "10-calico.conflist", capabilities: map[string]bool{"portMappings": true, "bandwidth": true}}}
	out, auto, err := rewriteConflist("chart.conflist", []byte(chart), in)
	if err != nil || !auto {
		t.Fatalf("auto %v, err %v", auto, err)
	}
	clusterNetwork, caps := installedMetaCNI(t, out)
	if clusterNetwork != "/etc/cni/net.d/10-calico.conflist" {
		t.Errorf("clusterNetwork %q, want the chosen conf's host path", clusterNetwork)
	}
	// The chart's explicit false wins; what the cluster conf adds is asked for.
	want := map[string]bool{"bandwidth": false, "portMappings": true, "io.kubernetes.cri.pod-annotations": true}
	if !maps.Equal(caps, want) {
		t.Errorf("capabilities %v, want %v", caps, want)
	}
}

func TestConflistNamingItsClusterNetworkIsNotAuto(t *testing.T) {
	for name, plugin := range map[string]string{
		"clusterNetwork": `{"type":"meta-cni","clusterNetwork":"cbr0"}`,
		"delegates":      `{"type":"meta-cni","delegates":[{"cniVersion":"1.0.0","name":"a","type":"bridge"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			chart := `{"cniVersion":"1.1.0","name":"meta-cni","plugins":[` + plugin + `]}`
			out, auto, err := rewriteConflist("c", []byte(chart), conflistInputs{kubeconfig: "/k", hostConfDir: "/etc/cni/net.d",
				cluster: &clusterConf{name: "10-x.conflist"}})
			if err != nil || auto {
				t.Fatalf("auto %v, err %v; want a pinned conflist", auto, err)
			}
			if bytes.Contains(out, []byte("10-x.conflist")) {
				t.Errorf("a pinned conflist names the auto choice:\n%s", out)
			}
		})
	}
}

// The cluster network is chosen, and meta-cni's own conf skipped, by what
// libcni runs from the same bytes, not by encoding/json's case-insensitive
// reading, which took a "Plugins" key for the plugin list.
func TestClusterConfIsReadAsLibcniReadsIt(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
		own        bool
		caps       map[string]bool
	}{
		{name: "Plugins does not hide a meta-cni list", own: true,
			conf: `{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"meta-cni"}],"Plugins":[{"type":"bridge"}]}`},
		{name: "Plugins does not make a bridge list meta-cni's", caps: map[string]bool{},
			conf: `{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"bridge"}],"Plugins":[{"type":"meta-cni"}]}`},
		// libcni decodes both keys into one map, so their entries add up.
		{name: "capabilities and Capabilities both count", caps: map[string]bool{"portMappings": true, "bandwidth": true},
			conf: `{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"portmap","capabilities":{"portMappings":true},"Capabilities":{"bandwidth":true}}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "10-x.conflist")
			writeFile(t, path, tc.conf, 0o644)
			caps, own, err := readClusterConf(path)
			if err != nil {
				t.Fatal(err)
			}
			list, err := libcni.ConfListFromBytes([]byte(tc.conf))
			if err != nil {
				t.Fatal(err)
			}
			libOwn, libCaps := false, map[string]bool{}
			for _, p := range list.Plugins {
				libOwn = libOwn || p.Network.Type == pluginType
				for k, v := range p.Network.Capabilities {
					if v {
						libCaps[k] = true
					}
				}
			}
			if own != libOwn || own != tc.own {
				t.Errorf("own %v, libcni runs meta-cni %v, want %v", own, libOwn, tc.own)
			}
			if !own && (!maps.Equal(caps, libCaps) || !maps.Equal(caps, tc.caps)) {
				t.Errorf("capabilities %v, libcni's %v, want %v", caps, libCaps, tc.caps)
			}
		})
	}
}

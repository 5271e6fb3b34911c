package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"path/filepath"
	"testing"

	"github.com/containernetworking/cni/libcni"

	"github.com/meta-cni/meta-cni/pkg/config"
)

// chartConflists are meta-cni conflists as the chart renders them and as
// operators edit them, and broken ones.
var chartConflists = []string{
	`{"cniVersion":"1.0.0","name":"meta-cni","plugins":[{"type":"meta-cni","capabilities":{"portMappings":true,"bandwidth":true,"io.kubernetes.cri.pod-annotations":true},"logLevel":"info"}]}`,
	`{"cniVersion":"1.1.0","name":"meta-cni","plugins":[{"type":"meta-cni","clusterNetwork":"/etc/cni/net.d/10-calico.conflist","defaultNetworks":["kube-system/monitoring"]},{"type":"portmap","capabilities":{"portMappings":true}}]}`,
	`{"cniVersion":"1.0.0","name":"meta-cni","plugins":[{"type":"meta-cni","delegates":[{"cniVersion":"1.0.0","name":"cbr0","type":"bridge"}]}]}`,
	`{"cniVersion":"1.0.0","name":"meta-cni","plugins":[{"type":"meta-cni","clusterNetwork":5}]}`,
	`{"cniVersion":"1.0.0","name":"meta-cni","plugins":[{"type":"meta-cni","capabilities":[]}]}`,
	`{"cniVersion":"1.0.0","name":"meta-cni","plugins":[{"type":"bridge"}]}`,
	`{"cniVersion":"1.0.0","name":"meta-cni","Plugins":[{"type":"meta-cni"}]}`,
	`{"cniVersion":"1.0.0","name":"meta-cni","plugins":[{"type":"meta-cni","Type":"bridge"}]}`,
	`{"cniVersion":"1.0.0","name":"meta-cni","plugins":[{"type":"meta-cni"}],"disableCheck":"maybe"}`,
	`{"cniVersion":"","name":"meta-cni","plugins":[{"type":"meta-cni"}]}`,
	`{"name":"meta-cni","plugins":[]}`, `{"cniVersion":"1.0.0","na`, `null`, `[]`,
}

// FuzzRewriteConflist rewrites any chart conflist, with the conf dir's
// choice of cluster network or without one. An accepted one is a conflist
// libcni loads, with the plugins in the same order and types, every
// meta-cni plugin given the daemon's kubeconfig, socket and node and
// accepted by the plugin's own NetConf parse, the others untouched, and a
// second rewrite changes nothing; a refused one is a ConflistError naming
// the file.
func FuzzRewriteConflist(f *testing.F) {
	for _, s := range chartConflists {
		f.Add([]byte(s), true, "10-calico.conflist")
		f.Add([]byte(s), false, "")
	}
	f.Fuzz(func(t *testing.T, data []byte, chosen bool, clusterName string) {
		in := conflistInputs{kubeconfig: "/etc/cni/net.d/meta-cni.d/meta-cni.kubeconfig", socket: "/run/meta-cni/node.sock",
			node: "node-1", hostConfDir: "/etc/cni/net.d"}
		if chosen {
			in.cluster = &clusterConf{name: filepath.Base("/" + clusterName), capabilities: map[string]bool{"portMappings": true}}
		}
		out, auto, err := rewriteConflist("chart.conflist", data, in)
		if err != nil {
			var ce *ConflistError
			if out != nil || !errors.As(err, &ce) || ce.File != "chart.conflist" {
				t.Fatalf("%q refused with %v (%T), want a ConflistError naming the file", data, err, err)
			}
			return
		}
		list, err := libcni.ConfListFromBytes(out)
		if err != nil {
			t.Fatalf("libcni refuses the installed conflist %s: %v", out, err)
		}
		var before, after struct {
			Plugins []map[string]json.RawMessage `json:"plugins"`
		}
		if json.Unmarshal(data, &before) != nil || json.Unmarshal(out, &after) != nil || len(before.Plugins) != len(list.Plugins) || len(after.Plugins) != len(list.Plugins) {
			t.Fatalf("%q became %s: plugin count changed", data, out)
		}
		metaCNI := 0
		for i, p := range list.Plugins {
			var typ string
			_ = json.Unmarshal(before.Plugins[i]["type"], &typ)
			if p.Network.Type != typ {
				t.Fatalf("plugin %d of %q runs %q, was %q", i, data, p.Network.Type, typ)
			}
			if typ != pluginType {
				if !maps.EqualFunc(before.Plugins[i], after.Plugins[i], jsonEqual) {
					t.Fatalf("plugin %d (%s) of %q changed: %s", i, typ, data, out)
				}
				continue
			}
			metaCNI++
			conf, err := libcni.InjectConf(p, map[string]any{"name": list.Name, "cniVersion": list.CNIVersion})
			if err != nil {
				t.Fatal(err)
			}
			nc, err := config.Parse(conf.Bytes)
			if err != nil {
				t.Fatalf("meta-cni refuses its installed config %s: %v", conf.Bytes, err)
			}
			if nc.Kubeconfig != in.kubeconfig || nc.DaemonSocket != in.socket {
				t.Fatalf("installed meta-cni config %s lacks the daemon's inputs", conf.Bytes)
			}
			if auto && in.cluster != nil && nc.ClusterNetwork != filepath.Join(in.hostConfDir, in.cluster.name) {
				t.Fatalf("auto conflist names cluster network %q, want the chosen conf", nc.ClusterNetwork)
			}
		}
		if metaCNI == 0 {
			t.Fatalf("%q accepted without a meta-cni plugin", data)
		}
		// The installed conflist names its cluster network, so rewriting it
		// pins it as it is.
		again, auto2, err := rewriteConflist("chart.conflist", out, in)
		if err != nil || auto2 || !bytes.Equal(again, out) {
			t.Fatalf("a second rewrite of %s gave %s, auto %v, %v", out, again, auto2, err)
		}
	})
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ax, _ := json.Marshal(x)
	by, _ := json.Marshal(y)
	return bytes.Equal(ax, by)
}

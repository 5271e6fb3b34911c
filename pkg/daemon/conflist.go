package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"unicode/utf8"

	"github.com/containernetworking/cni/libcni"

	"github.com/meta-cni/meta-cni/pkg/config"
)

// pluginType is the CNI type of the meta-plugin the conflist must contain.
const pluginType = "meta-cni"

// ConflistError names the file and the field that make a conflist unusable.
type ConflistError struct {
	File   string
	Field  string
	Reason string
}

func (e *ConflistError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("conflist %s: %s", e.File, e.Reason)
	}
	return fmt.Sprintf("conflist %s: field %q: %s", e.File, e.Field, e.Reason)
}

// conflistInputs are what the daemon writes into every meta-cni plugin of
// the chart's conflist.
type conflistInputs struct {
	kubeconfig string
	// socket, when the node API is on, becomes "daemonSocket".
	socket string
	// node, when known, becomes "nodeName".
	node string
	// hostConfDir is the conf dir as the host sees it, for clusterNetwork.
	hostConfDir string
	// cluster is auto mode's choice; nil before one is made.
	cluster *clusterConf
}

// prepareConflist reads the chart's conflist, checks it, and returns it
// with the daemon's inputs set. auto says its meta-cni plugin leaves the
// cluster network to the daemon; until in.cluster is set, such a conflist
// is checked as if it named the conf dir, and must not be installed.
func prepareConflist(file string, in conflistInputs) (out []byte, auto bool, err error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, false, fmt.Errorf("read conflist: %w", err)
	}
	return rewriteConflist(file, data, in)
}

func rewriteConflist(file string, data []byte, in conflistInputs) ([]byte, bool, error) {
	bad := func(field, format string, args ...any) error {
		return &ConflistError{File: file, Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, false, bad("", "not a JSON object: %v", err)
	}
	for _, field := range []string{"cniVersion", "name"} {
		var s string
		if json.Unmarshal(top[field], &s) != nil || s == "" {
			return nil, false, bad(field, "must be a non-empty string")
		}
	}
	var plugins []map[string]json.RawMessage
	if err := json.Unmarshal(top["plugins"], &plugins); err != nil || len(plugins) == 0 {
		return nil, false, bad("plugins", "must be a non-empty list of plugin objects")
	}
	kc, _ := json.Marshal(in.kubeconfig)
	sock, _ := json.Marshal(in.socket)
	nodeName, _ := json.Marshal(in.node)
	found, auto := false, false
	for i, p := range plugins {
		var typ string
		if json.Unmarshal(p["type"], &typ) != nil || typ == "" {
			return nil, false, bad(fmt.Sprintf("plugins[%d].type", i), "must be a non-empty string")
		}
		if typ != pluginType {
			continue
		}
		p["kubeconfig"] = kc
		if in.socket != "" {
			p["daemonSocket"] = sock
		}
		if in.node != "" {
			p["nodeName"] = nodeName
		}
		if autoClusterNetwork(p) {
			auto = true
			cluster := in.cluster
			if cluster == nil {
				// A placeholder of a valid form, so the rest is checked now.
				cluster = &clusterConf{}
			}
			if !utf8.ValidString(cluster.name) {
				return nil, false, bad(fmt.Sprintf("plugins[%d].clusterNetwork", i), "conf file name %q is not valid UTF-8, so JSON cannot name it", cluster.name)
			}
			if err := withClusterConf(p, in.hostConfDir, cluster); err != nil {
				return nil, false, bad(fmt.Sprintf("plugins[%d].capabilities", i), "%v", err)
			}
		}
		if err := checkNetConf(top, p); err != nil {
			var fe *config.FieldError
			if errors.As(err, &fe) {
				return nil, false, bad(fmt.Sprintf("plugins[%d].%s", i, fe.Field), "%s", fe.Reason)
			}
			return nil, false, bad(fmt.Sprintf("plugins[%d]", i), "%v", err)
		}
		found = true
	}
	if !found {
		return nil, false, bad("plugins[].type", "no plugin has type %q", pluginType)
	}
	rawPlugins, err := json.Marshal(plugins)
	if err != nil {
		return nil, false, fmt.Errorf("encode conflist %s: %w", file, err)
	}
	top["plugins"] = rawPlugins
	out, err := json.MarshalIndent(top, "", "  ")
	if err != nil {
		return nil, false, fmt.Errorf("encode conflist %s: %w", file, err)
	}
	// The runtime parses it with libcni; fail here rather than on every pod.
	if _, err := libcni.ConfListFromBytes(out); err != nil {
		return nil, false, bad("", "rejected by libcni: %v", err)
	}
	return append(out, '\n'), auto, nil
}

// checkNetConf parses the meta-cni plugin the way the plugin will, with the
// list's name and cniVersion injected as libcni does, so a config the plugin
// would reject on every pod ADD is rejected once, here.
func checkNetConf(top, plugin map[string]json.RawMessage) error {
	conf := make(map[string]json.RawMessage, len(plugin)+2)
	for k, v := range plugin {
		conf[k] = v
	}
	conf["name"], conf["cniVersion"] = top["name"], top["cniVersion"]
	data, err := json.Marshal(conf)
	if err != nil {
		return err
	}
	_, err = config.Parse(data)
	return err
}

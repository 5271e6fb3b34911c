package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

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

// prepareConflist reads the chart's conflist, checks it, and returns it with
// every meta-cni plugin's "kubeconfig" set to kubeconfig, when the node API
// is on its "daemonSocket" set to socket, and when the node is known its
// "nodeName" set to node.
func prepareConflist(file, kubeconfig, socket, node string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read conflist: %w", err)
	}
	return rewriteConflist(file, data, kubeconfig, socket, node)
}

func rewriteConflist(file string, data []byte, kubeconfig, socket, node string) ([]byte, error) {
	bad := func(field, format string, args ...any) error {
		return &ConflistError{File: file, Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, bad("", "not a JSON object: %v", err)
	}
	for _, field := range []string{"cniVersion", "name"} {
		var s string
		if json.Unmarshal(top[field], &s) != nil || s == "" {
			return nil, bad(field, "must be a non-empty string")
		}
	}
	var plugins []map[string]json.RawMessage
	if err := json.Unmarshal(top["plugins"], &plugins); err != nil || len(plugins) == 0 {
		return nil, bad("plugins", "must be a non-empty list of plugin objects")
	}
	kc, _ := json.Marshal(kubeconfig)
	sock, _ := json.Marshal(socket)
	nodeName, _ := json.Marshal(node)
	found := false
	for i, p := range plugins {
		var typ string
		if json.Unmarshal(p["type"], &typ) != nil || typ == "" {
			return nil, bad(fmt.Sprintf("plugins[%d].type", i), "must be a non-empty string")
		}
		if typ == pluginType {
			p["kubeconfig"] = kc
			if socket != "" {
				p["daemonSocket"] = sock
			}
			if node != "" {
				p["nodeName"] = nodeName
			}
			if err := checkNetConf(top, p); err != nil {
				var fe *config.FieldError
				if errors.As(err, &fe) {
					return nil, bad(fmt.Sprintf("plugins[%d].%s", i, fe.Field), "%s", fe.Reason)
				}
				return nil, bad(fmt.Sprintf("plugins[%d]", i), "%v", err)
			}
			found = true
		}
	}
	if !found {
		return nil, bad("plugins[].type", "no plugin has type %q", pluginType)
	}
	rawPlugins, err := json.Marshal(plugins)
	if err != nil {
		return nil, fmt.Errorf("encode conflist %s: %w", file, err)
	}
	top["plugins"] = rawPlugins
	out, err := json.MarshalIndent(top, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode conflist %s: %w", file, err)
	}
	// The runtime parses it with libcni; fail here rather than on every pod.
	if _, err := libcni.ConfListFromBytes(out); err != nil {
		return nil, bad("", "rejected by libcni: %v", err)
	}
	return append(out, '\n'), nil
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

// Package delegate turns a pod's resolved networks into delegates (a
// conflist, an interface name and runtime arguments each), runs them through
// libcni with rollback, and keeps the durable attachment record that lets DEL
// and CHECK work without the API server.
package delegate

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/version"
)

// Delegate is one network attachment of a pod, fully built: what libcni
// needs to ADD it now and to CHECK or DEL it later.
type Delegate struct {
	// Network names where the config came from: "namespace/name" of a
	// NetworkAttachmentDefinition, or "file:<path>" for a file.
	Network string `json:"network"`
	// Name is the conflist's network name, used by libcni's result cache.
	Name   string `json:"name"`
	IfName string `json:"ifName"`
	// ConfList is the final conflist handed to libcni, after injection.
	ConfList json.RawMessage `json:"confList"`
	// CapabilityArgs go into runtimeConfig, for capabilities a plugin declares.
	CapabilityArgs map[string]any `json:"capabilityArgs,omitempty"`
	// AddArgs are CNI_ARGS added on ADD only: a selection's IP and MAC, as
	// Multus (multus.DelegateAdd) passes them, so plugins that read them
	// from CNI_ARGS (static IPAM, macvlan, bridge) get them without
	// declaring the ips or mac capability.
	AddArgs [][2]string `json:"addArgs,omitempty"`
	// Cluster marks the cluster network, whose result the runtime gets back.
	Cluster bool `json:"cluster,omitempty"`
	// Gateways is a default-route request: the pod's default route moves to
	// this interface, via these gateways.
	Gateways []net.IP `json:"gateways,omitempty"`
}

// Request is what a network selection asks of its delegate.
type Request struct {
	IPs          []string
	MAC          string
	CNIArgs      map[string]any
	PortMappings any
	Bandwidth    any
	Gateways     []net.IP

	// RuntimeConfig is the runtime's runtimeConfig given to meta-cni: the
	// base of the capability arguments, which the fields above override.
	RuntimeConfig map[string]any
}

// BuildError says which network's config is wrong, and where.
type BuildError struct {
	Network string
	Field   string
	Reason  string
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("network %s: config field %q: %s", e.Network, e.Field, e.Reason)
}

// Build makes a delegate from a network's CNI config (a single conf or a
// conflist). It injects the network name when the config has none, a
// cniVersion when it has none, the selection's cni-args into every plugin's
// args.cni, and the selection's requests as capability arguments.
func Build(network, defaultName, ifName string, config []byte, cniVersion string, req Request) (*Delegate, error) {
	var top map[string]any
	if err := json.Unmarshal(config, &top); err != nil || top == nil {
		reason := "is not a JSON object"
		if err != nil {
			reason = fmt.Sprintf("is not valid JSON: %v", err)
		}
		return nil, &BuildError{network, "config", reason}
	}
	list, err := asConfList(network, top)
	if err != nil {
		return nil, err
	}
	name, _ := list["name"].(string)
	if name == "" {
		name = defaultName
		list["name"] = name
	}
	if !validNetworkName(name) {
		return nil, &BuildError{network, "name", fmt.Sprintf("%q may hold only letters, digits, '.', '_' and '-'", name)}
	}
	v, _ := list["cniVersion"].(string)
	if v == "" {
		list["cniVersion"] = cniVersion
		v = cniVersion
	}
	if _, _, _, err := version.ParseVersion(v); err != nil {
		return nil, &BuildError{network, "cniVersion", fmt.Sprintf("%q is not a CNI version", v)}
	}
	plugins, _ := list["plugins"].([]any)
	if len(plugins) == 0 {
		return nil, &BuildError{network, "plugins", "is empty"}
	}
	for i, p := range plugins {
		plugin, ok := p.(map[string]any)
		if !ok {
			return nil, &BuildError{network, fmt.Sprintf("plugins[%d]", i), "is not an object"}
		}
		if t, _ := plugin["type"].(string); t == "" {
			return nil, &BuildError{network, fmt.Sprintf("plugins[%d].type", i), "is required"}
		}
		if len(req.CNIArgs) > 0 {
			mergeCNIArgs(plugin, req.CNIArgs)
		}
	}
	out, err := json.Marshal(list)
	if err != nil {
		return nil, fmt.Errorf("encode delegate config of network %s: %w", network, err)
	}
	if err := libcniLoads(network, out); err != nil {
		return nil, err
	}
	return &Delegate{
		Network:        network,
		Name:           name,
		IfName:         ifName,
		ConfList:       out,
		CapabilityArgs: req.capabilityArgs(),
		AddArgs:        req.addArgs(),
		Gateways:       req.Gateways,
	}, nil
}

// libcniLoads refuses, as invalid config naming the field, a built list
// libcni would refuse on every ADD (a plugin's "name" that is a number, a
// "disableCheck" of "maybe"), which would otherwise fail later as a
// delegate failure rather than the config error it is.
func libcniLoads(network string, conflist []byte) error {
	var list map[string]json.RawMessage
	var plugins []json.RawMessage
	if err := json.Unmarshal(conflist, &list); err != nil {
		return fmt.Errorf("decode delegate config of network %s: %w", network, err)
	}
	if err := json.Unmarshal(list["plugins"], &plugins); err != nil {
		return fmt.Errorf("decode delegate config of network %s: %w", network, err)
	}
	for i, p := range plugins {
		if _, err := libcni.ConfFromBytes(p); err != nil {
			return &BuildError{network, fmt.Sprintf("plugins[%d]", i), err.Error()}
		}
	}
	if _, err := libcni.ConfListFromBytes(conflist); err != nil {
		return &BuildError{network, "config", err.Error()}
	}
	return nil
}

// asConfList returns top itself when it is a conflist, or wraps a single
// conf in one, moving name and cniVersion to the list.
func asConfList(network string, top map[string]any) (map[string]any, error) {
	if p, ok := top["plugins"]; ok {
		if _, ok := p.([]any); !ok {
			return nil, &BuildError{network, "plugins", "is not a list"}
		}
		return top, nil
	}
	if t, _ := top["type"].(string); t == "" {
		return nil, &BuildError{network, "type", "is required in a single plugin config (or give a \"plugins\" list)"}
	}
	list := map[string]any{"plugins": []any{top}}
	for _, k := range []string{"name", "cniVersion"} {
		if v, ok := top[k]; ok {
			list[k] = v
		}
	}
	return list, nil
}

func mergeCNIArgs(plugin map[string]any, extra map[string]any) {
	args, _ := plugin["args"].(map[string]any)
	if args == nil {
		args = map[string]any{}
		plugin["args"] = args
	}
	cni, _ := args["cni"].(map[string]any)
	if cni == nil {
		cni = map[string]any{}
		args["cni"] = cni
	}
	for k, v := range extra {
		cni[k] = v
	}
}

func (r Request) capabilityArgs() map[string]any {
	caps := map[string]any{}
	for k, v := range r.RuntimeConfig {
		caps[k] = v
	}
	if len(r.IPs) > 0 {
		caps["ips"] = r.IPs
	}
	if r.MAC != "" {
		caps["mac"] = r.MAC
	}
	if r.PortMappings != nil {
		caps["portMappings"] = r.PortMappings
	}
	if r.Bandwidth != nil {
		caps["bandwidth"] = r.Bandwidth
	}
	if len(caps) == 0 {
		return nil
	}
	return caps
}

func (r Request) addArgs() [][2]string {
	var args [][2]string
	if r.MAC != "" {
		args = append(args, [2]string{"MAC", r.MAC})
	}
	if len(r.IPs) > 0 {
		args = append(args, [2]string{"IP", strings.Join(r.IPs, ",")})
	}
	return args
}

// validNetworkName keeps names usable in libcni's cache file names.
func validNetworkName(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

package soak

import (
	"encoding/json"
	"fmt"
	"strings"
)

// badInput is one kind of input a broken or hostile user or runtime
// sends, and what a clean refusal of it looks like.
type badInput struct {
	kind string // the table's row: "malformed annotation", "path-like name", ...
	name string // this variant, for messages
	// want is the CNI code meta-cni must answer with (README, Error codes).
	want string
	// networks is the pod's k8s.v1.cni.cncf.io/networks; defaultNetwork
	// its v1.multus-cni.io/default-network.
	networks, defaultNetwork string
	// call changes what the runtime sends: CNI_ARGS's pod names, the
	// container ID, CNI_IFNAME, the network name in the conf. A value the
	// API server would refuse (a pod name with '/') goes only here.
	call func(c *rawCall)
	// mentions are what the error message must name, beside the pod
	// (when the runtime named a valid one): the network and the field.
	mentions []string
	// noPod: the runtime's pod names are not a pod's, so the message
	// cannot name it.
	noPod bool
}

// The bad NADs every pod of the scenario can ask for, beside the good
// "macvlan": their names and spec.config.
const (
	nadBadJSON       = "bad-json"
	nadMissingPlugin = "missing-plugin"
	nadHostRouteOnly = "host-route-first"
	nadHuge          = "huge"
)

// badNADs are the NADs whose config is broken, by name.
func badNADs(good string) map[string]string {
	return map[string]string{
		nadBadJSON:       `{"cniVersion": "1.0.0", "name": "bad-json", "plugins": [{"type": "macvlan",`,
		nadMissingPlugin: `{"cniVersion": "1.0.0", "name": "missing-plugin", "plugins": [{"type": "no-such-plugin"}]}`,
		// host-route first: nothing before it gives it a prevResult.
		nadHostRouteOnly: hostRouteFirst(good),
		// 1 MiB, nested deeper than any JSON decoder's stack wants.
		nadHuge: strings.Repeat("[", 1<<20),
	}
}

// hostRouteFirst reorders a conflist so host-route runs first, with no
// prevResult; the conflist is returned as it is when it is not JSON.
func hostRouteFirst(conflist string) string {
	var list map[string]any
	if err := json.Unmarshal([]byte(conflist), &list); err != nil {
		return conflist
	}
	plugins, _ := list["plugins"].([]any)
	var first, rest []any
	for _, p := range plugins {
		if m, ok := p.(map[string]any); ok && m["type"] == "host-route" {
			first = append(first, p)
		} else {
			rest = append(rest, p)
		}
	}
	list["plugins"] = append(first, rest...)
	b, _ := json.Marshal(list)
	return string(b)
}

// evil marks every path-like name, so a file a plugin made from one is
// found wherever it landed under the node's root.
const evil = "evil"

// badInputs is the mix, one of each variant; a scenario cycles through
// it, so every kind gets its share. good is the good NAD's name.
func badInputs(good string) []badInput {
	ann := "k8s.v1.cni.cncf.io/networks"
	long := strings.Repeat("a", 300)
	tenK := make([]string, 10000)
	for i := range tenK {
		tenK[i] = fmt.Sprintf("%s@n%d", good, i)
	}
	return []badInput{
		// Malformed annotations.
		{kind: "malformed annotation", name: "bad JSON", want: "7", networks: `[{"name": "` + good + `"`, mentions: []string{ann}},
		{kind: "malformed annotation", name: "bad comma form", want: "7", networks: "a/b/" + good, mentions: []string{ann, "a/b/" + good}},
		{kind: "malformed annotation", name: "empty interface", want: "7", networks: good + "@", mentions: []string{ann, good}},
		{kind: "malformed annotation", name: "interface too long", want: "7", networks: good + "@this-is-far-too-long", mentions: []string{ann, "this-is-far-too-long"}},
		{kind: "malformed annotation", name: "interface clash with eth0", want: "7", networks: good + "@eth0", mentions: []string{"eth0"}},
		{kind: "malformed annotation", name: "duplicate interface", want: "7", networks: good + "@net5," + good + "@net5", mentions: []string{ann, "net5"}},
		{kind: "malformed annotation", name: "bad MAC", want: "7", networks: `[{"name": "` + good + `", "mac": "zz:zz:zz"}]`, mentions: []string{ann, "mac", "zz:zz:zz"}},
		{kind: "malformed annotation", name: "bad IP", want: "7", networks: `[{"name": "` + good + `", "ips": ["10.20.0.300/24"]}]`, mentions: []string{ann, "ips", "10.20.0.300/24"}},
		{kind: "malformed annotation", name: "two default networks", want: "7", defaultNetwork: good + "," + good, networks: good, mentions: []string{"v1.multus-cni.io/default-network"}},

		// Missing NADs and NADs whose config is broken.
		{kind: "missing NAD", name: "missing NAD", want: "7", networks: "no-such-nad", mentions: []string{"no-such-nad"}},
		{kind: "NAD with invalid JSON", name: "invalid JSON", want: "7", networks: nadBadJSON, mentions: []string{nadBadJSON, "config"}},
		{kind: "NAD naming a missing plugin", name: "missing plugin", want: "7", networks: nadMissingPlugin, mentions: []string{nadMissingPlugin, "no-such-plugin"}},
		{kind: "host-route without prevResult", name: "host-route first", want: "7", networks: nadHostRouteOnly, mentions: []string{nadHostRouteOnly, "prevResult"}},

		// Oversized values.
		{kind: "oversized", name: "1 MiB NAD config", want: "7", networks: nadHuge, mentions: []string{nadHuge, "config"}},
		{kind: "oversized", name: "200 KiB annotation", want: "7", networks: `[{"name": "` + strings.Repeat("x", 200<<10) + `"}]`, mentions: []string{ann, "name"}},
		{kind: "oversized", name: "10k networks", want: "7", networks: strings.Join(tenK, ","), mentions: []string{ann, "10000"}},
		{kind: "oversized", name: "long NAD name", want: "7", networks: long, mentions: []string{ann, "name"}},
		{kind: "oversized", name: "long pod name in CNI_ARGS", want: "4", noPod: true, call: func(c *rawCall) { c.setArg("K8S_POD_NAME", strings.Repeat("p", 64<<10)) }, mentions: []string{"K8S_POD_NAME"}},
		{kind: "oversized", name: "long container ID", want: "4", call: func(c *rawCall) { c.containerID = strings.Repeat("c", 4096) }, mentions: []string{"containerID"}},
		{kind: "oversized", name: "long CNI_IFNAME", want: "4", call: func(c *rawCall) { c.ifName = long }, mentions: []string{"interface name"}},

		// Path-like names in every field that becomes a file name or path.
		{kind: "path-like name", name: "pod name ../ in CNI_ARGS", want: "4", noPod: true, call: func(c *rawCall) { c.setArg("K8S_POD_NAME", "../"+evil) }, mentions: []string{"K8S_POD_NAME", "../" + evil}},
		{kind: "path-like name", name: "pod name / in CNI_ARGS", want: "4", noPod: true, call: func(c *rawCall) { c.setArg("K8S_POD_NAME", "a/"+evil) }, mentions: []string{"K8S_POD_NAME"}},
		{kind: "path-like name", name: "pod name %2F in CNI_ARGS", want: "4", noPod: true, call: func(c *rawCall) { c.setArg("K8S_POD_NAME", evil+"%2F..") }, mentions: []string{"K8S_POD_NAME"}},
		{kind: "path-like name", name: "namespace ../ in CNI_ARGS", want: "4", noPod: true, call: func(c *rawCall) { c.setArg("K8S_POD_NAMESPACE", "../"+evil) }, mentions: []string{"K8S_POD_NAMESPACE"}},
		{kind: "path-like name", name: "container ID ../", want: "4", call: func(c *rawCall) { c.containerID = "../../" + evil }, mentions: []string{"containerID"}},
		{kind: "path-like name", name: "container ID /", want: "4", call: func(c *rawCall) { c.containerID = "/tmp/" + evil }, mentions: []string{"containerID"}},
		{kind: "path-like name", name: "container ID %2F", want: "4", call: func(c *rawCall) { c.containerID = "..%2F" + evil }, mentions: []string{"containerID"}},
		{kind: "path-like name", name: "CNI_IFNAME ../", want: "4", call: func(c *rawCall) { c.ifName = "../" + evil }, mentions: []string{"interface name"}},
		{kind: "path-like name", name: "CNI_IFNAME /", want: "4", call: func(c *rawCall) { c.ifName = evil + "/x" }, mentions: []string{"interface name"}},
		{kind: "path-like name", name: "network name ../", want: "7", call: func(c *rawCall) { c.netName = "../" + evil }, mentions: []string{"network name"}},
		{kind: "path-like name", name: "network name NUL", want: "7", call: func(c *rawCall) { c.netName = evil + "\x00x" }, mentions: []string{"network name"}},
		{kind: "path-like name", name: "NAD name ../", want: "7", networks: "../" + evil, mentions: []string{ann}},
		{kind: "path-like name", name: "NAD name %2F", want: "7", networks: evil + "%2F..", mentions: []string{ann}},
		{kind: "path-like name", name: "NAD name NUL", want: "7", networks: `[{"name": "` + evil + `\u0000"}]`, mentions: []string{ann}},
		{kind: "path-like name", name: "NAD namespace ../", want: "7", networks: `[{"name": "` + good + `", "namespace": "../` + evil + `"}]`, mentions: []string{ann, "namespace"}},
		{kind: "path-like name", name: "interface ../ in annotation", want: "7", networks: `[{"name": "` + good + `", "interface": "../` + evil + `"}]`, mentions: []string{ann, "interface"}},
	}
}

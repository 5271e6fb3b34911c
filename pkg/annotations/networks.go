package annotations

import (
	"encoding/json"
	"fmt"
	"strings"
)

// MaxNetworks bounds the networks one pod may ask for. Each costs a NAD
// GET and a delegate run inside the runtime's ADD timeout; a 256 KiB
// annotation can list ten thousand, whose ADD would flood the API server
// and never finish in time (soak scenario 8).
const MaxNetworks = 64

// ParseNetworks parses the value of k8s.v1.cni.cncf.io/networks. It accepts
// the comma form "[ns/]name[@ifname], ..." and the JSON list form, chosen by a
// leading '['. An empty value asks for no networks and returns nil, nil.
// Namespace defaults to podNamespace. Every error is an *Error.
func ParseNetworks(value, podNamespace string) ([]NetworkSelection, error) {
	value = strings.TrimSpace(value)
	var (
		sels []NetworkSelection
		err  *Error
	)
	switch {
	case value == "":
		return nil, nil
	case value[0] == '[':
		sels, err = parseJSONList(NetworksKey, value, podNamespace)
	case value[0] == '{':
		return nil, &Error{Annotation: NetworksKey, Entry: -1,
			Reason: "is a single json object; the json form must be a list of objects"}
	default:
		sels, err = parseCommaList(NetworksKey, value, podNamespace)
	}
	if err != nil {
		return nil, err
	}
	if len(sels) > MaxNetworks {
		return nil, &Error{Annotation: NetworksKey, Entry: -1,
			Reason: fmt.Sprintf("lists %d networks; a pod may ask for at most %d", len(sels), MaxNetworks)}
	}
	if err := checkUniqueInterfaces(NetworksKey, sels); err != nil {
		return nil, err
	}
	return sels, nil
}

// ParseDefaultNetwork parses v1.multus-cni.io/default-network: "[ns/]name",
// or, as Multus accepts, one JSON object or a one-element JSON list.
// An empty value means "no override" and returns "", "", nil, as in Multus.
// The default network is always eth0 and takes no per-pod requests, so an
// interface other than eth0, ips, mac, default-route, cni-args, portMappings
// or bandwidth are errors rather than being silently dropped.
func ParseDefaultNetwork(value, podNamespace string) (namespace, name string, err error) {
	value = strings.TrimSpace(value)
	var (
		sels  []NetworkSelection
		perr  *Error
		entry = -1 // a bare entry is the whole value; a list entry has its index
	)
	switch {
	case value == "":
		return "", "", nil
	case value[0] == '[':
		sels, perr = parseJSONList(DefaultNetworkKey, value, podNamespace)
		entry = 0
	case value[0] == '{':
		var sel NetworkSelection
		sel, perr = parseJSONEntry(DefaultNetworkKey, -1, json.RawMessage(value), podNamespace)
		sels = []NetworkSelection{sel}
	default:
		if strings.Contains(value, ",") {
			return "", "", &Error{Annotation: DefaultNetworkKey, Entry: -1, Value: value,
				Reason: "names more than one network; the default network must be exactly one"}
		}
		var sel NetworkSelection
		sel, perr = parseCommaEntry(DefaultNetworkKey, -1, value, podNamespace)
		sels = []NetworkSelection{sel}
	}
	if perr != nil {
		return "", "", perr
	}
	if len(sels) != 1 {
		return "", "", &Error{Annotation: DefaultNetworkKey, Entry: -1,
			Reason: fmt.Sprintf("lists %d networks; the default network must be exactly one", len(sels))}
	}
	if perr := defaultNetworkRequests(sels[0], entry); perr != nil {
		return "", "", perr
	}
	return sels[0].Namespace, sels[0].Name, nil
}

// defaultNetworkRequests rejects what a default-network selection cannot honour.
func defaultNetworkRequests(s NetworkSelection, entry int) *Error {
	fail := func(field, reason string) *Error {
		return &Error{Annotation: DefaultNetworkKey, Entry: entry, Field: field, Reason: reason}
	}
	const unsupported = "is not supported for the default network"
	switch {
	case s.Interface != "" && s.Interface != "eth0":
		return &Error{Annotation: DefaultNetworkKey, Entry: entry, Field: "interface", Value: s.Interface,
			Reason: "is not allowed; the default network is always eth0"}
	case s.IPs != nil:
		return fail("ips", unsupported)
	case s.MAC != "":
		return fail("mac", unsupported)
	case s.DefaultRoute != nil:
		return fail("default-route", unsupported)
	case s.CNIArgs != nil:
		return fail("cni-args", unsupported)
	case s.PortMappings != nil:
		return fail("portMappings", unsupported)
	case s.Bandwidth != nil:
		return fail("bandwidth", unsupported)
	}
	return nil
}

func parseCommaList(annotation, value, podNamespace string) ([]NetworkSelection, *Error) {
	items := strings.Split(value, ",")
	sels := make([]NetworkSelection, 0, len(items))
	for i, item := range items {
		sel, err := parseCommaEntry(annotation, i, strings.TrimSpace(item), podNamespace)
		if err != nil {
			return nil, err
		}
		sels = append(sels, sel)
	}
	return sels, nil
}

// parseCommaEntry parses one trimmed "[ns/]name[@ifname]".
func parseCommaEntry(annotation string, entry int, item, podNamespace string) (NetworkSelection, *Error) {
	fail := func(field, value, reason string) (NetworkSelection, *Error) {
		return NetworkSelection{}, &Error{Annotation: annotation, Entry: entry, Field: field, Value: value, Reason: reason}
	}
	if item == "" {
		return fail("", "", "is empty")
	}
	// The first '/' ends the namespace and the first '@' the name, so a
	// second one is in the name ("../ns/net") or the interface.
	if strings.Count(item, "/") > 1 {
		return fail("name", item, "has more than one '/'; the form is [namespace/]name[@interface]")
	}
	if strings.Count(item, "@") > 1 {
		return fail("interface", item, "has more than one '@'; the form is [namespace/]name[@interface]")
	}
	sel := NetworkSelection{Namespace: podNamespace}
	rest, ifname, hasIf := strings.Cut(item, "@")
	ns, name, hasNs := strings.Cut(rest, "/")
	if hasNs {
		if reason := namespaceProblem(ns); reason != "" {
			return fail("namespace", ns, reason)
		}
		sel.Namespace = ns
	} else {
		name = rest
	}
	if reason := networkNameProblem(name); reason != "" {
		return fail("name", name, reason)
	}
	sel.Name = name
	if hasIf {
		if reason := interfaceNameProblem(ifname); reason != "" {
			_, err := fail("interface", ifname, reason)
			err.Network = rest
			return NetworkSelection{}, err
		}
		sel.Interface = ifname
	}
	if !hasNs {
		if reason := namespaceProblem(podNamespace); reason != "" {
			return fail("namespace", podNamespace, "(the pod namespace) "+reason)
		}
	}
	return sel, nil
}

// checkUniqueInterfaces reports the second selection that names an interface
// already named by an earlier one.
func checkUniqueInterfaces(annotation string, sels []NetworkSelection) *Error {
	first := make(map[string]int, len(sels))
	for i, s := range sels {
		if s.Interface == "" {
			continue
		}
		if j, dup := first[s.Interface]; dup {
			return &Error{Annotation: annotation, Entry: i, Field: "interface", Value: s.Interface,
				Reason: fmt.Sprintf("is already used by entry %d", j)}
		}
		first[s.Interface] = i
	}
	return nil
}

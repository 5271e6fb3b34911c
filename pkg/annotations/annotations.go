// Package annotations parses the pod annotations of the Network Plumbing WG
// multi-network standard and builds the network-status value. It does no I/O.
package annotations

import (
	"fmt"
	"net"
	"strings"
	"unicode/utf8"
)

// Annotation keys read and written by meta-cni.
const (
	NetworksKey       = "k8s.v1.cni.cncf.io/networks"
	DefaultNetworkKey = "v1.multus-cni.io/default-network"
	NetworkStatusKey  = "k8s.v1.cni.cncf.io/network-status"
)

// NetworkSelection is one network a pod asks for.
type NetworkSelection struct {
	Name         string   // NAD name (DNS-1123 subdomain)
	Namespace    string   // defaults to the pod namespace
	Interface    string   // "" means "assign netN"
	IPs          []string // each "ip" or "ip/prefix", validated, kept as the user wrote them
	MAC          string   // validated with net.ParseMAC, kept as written
	DefaultRoute []net.IP // from "default-route"
	// CNIArgs comes from "cni-args". Numbers are json.Number so that large
	// integers survive being marshalled again into args.cni.
	CNIArgs      map[string]interface{}
	PortMappings []PortMapping // from "portMappings"
	Bandwidth    *Bandwidth    // from "bandwidth"
}

// PortMapping is one entry of "portMappings", in the shape of the portMappings
// capability. Protocol is lower-cased; "" leaves the choice to the plugin.
type PortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol,omitempty"`
	HostIP        string `json:"hostIP,omitempty"`
}

// Bandwidth is the "bandwidth" request, in the shape of the bandwidth capability.
type Bandwidth struct {
	IngressRate  int64 `json:"ingressRate,omitempty"`
	IngressBurst int64 `json:"ingressBurst,omitempty"`
	EgressRate   int64 `json:"egressRate,omitempty"`
	EgressBurst  int64 `json:"egressBurst,omitempty"`
}

// Error says which annotation, which entry (0-based index; -1 when the whole
// value is at fault) and which field is wrong.
type Error struct {
	Annotation string
	Entry      int
	// Network is the entry's network, when its name is valid and another
	// of its fields is wrong: the name a user looks for in a long list.
	Network string
	Field   string
	Value   string
	Reason  string
}

// maxShownValue bounds how much of a bad value an error message repeats:
// annotations may be 256 KiB and error messages end up in pod events.
const maxShownValue = 64

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("annotation ")
	b.WriteString(e.Annotation)
	if e.Entry >= 0 {
		fmt.Fprintf(&b, " entry %d", e.Entry)
	}
	if e.Network != "" {
		fmt.Fprintf(&b, " (network %s)", e.Network)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, " field %q", e.Field)
	}
	if e.Value != "" {
		fmt.Fprintf(&b, ": %q %s", clip(e.Value), e.Reason)
	} else {
		b.WriteString(" ")
		b.WriteString(e.Reason)
	}
	return b.String()
}

func clip(s string) string {
	if len(s) <= maxShownValue {
		return s
	}
	cut := maxShownValue
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

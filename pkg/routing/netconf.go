package routing

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/meta-cni/meta-cni/pkg/pluginlog"
)

// Mode is how the pod reaches its host.
type Mode string

const (
	// ModeVeth gives each pod a veth pair to the host.
	ModeVeth Mode = "veth"
	// ModeMacvlanBridge shares one host macvlan sub-interface in bridge mode
	// on the pod's master.
	ModeMacvlanBridge Mode = "macvlan-bridge"
)

// DefaultContainerInterface is the pod end of the veth when the config
// names none, as the older veth-to-host plugin did.
const DefaultContainerInterface = "veth0"

// NetConf is the plugin's configuration as users write it. hostInterface,
// containerInterface and ipMasq keep the veth-to-host plugin's names; master
// and bridge keep the "route" plugin's names for macvlan-bridge mode.
type NetConf struct {
	types.NetConf

	Mode               string   `json:"mode,omitempty"`
	HostInterface      string   `json:"hostInterface,omitempty"`
	ContainerInterface string   `json:"containerInterface,omitempty"`
	ServiceCIDRs       []string `json:"serviceCIDRs,omitempty"`
	ExtraCIDRs         []string `json:"extraCIDRs,omitempty"`
	HostIPs            []string `json:"hostIPs,omitempty"`
	IPMasq             bool     `json:"ipMasq,omitempty"`
	MTU                int      `json:"mtu,omitempty"`

	// Master is the link the pods' macvlan sits on. It defaults to
	// hostInterface, then to the parent of the pod's interface.
	Master string `json:"master,omitempty"`
	// Bridge names the shared host sub-interface in macvlan-bridge mode.
	Bridge string `json:"bridge,omitempty"`

	// LogFile, LogLevel, LogToStderr and LogOptions are Multus's log
	// settings; see pluginlog.
	LogFile     string             `json:"logFile,omitempty"`
	LogLevel    string             `json:"logLevel,omitempty"`
	LogToStderr *bool              `json:"logToStderr,omitempty"`
	LogOptions  *pluginlog.Options `json:"logOptions,omitempty"`
}

// Log is where the plugin's logs go.
func (n *NetConf) Log() pluginlog.Config {
	return pluginlog.Config{File: n.LogFile, Level: n.LogLevel, ToStderr: n.LogToStderr, Options: n.LogOptions}
}

// Config is a NetConf that passed validation, with its CIDRs and IPs parsed.
type Config struct {
	Raw                *NetConf
	Mode               Mode
	HostInterface      string
	ContainerInterface string
	ServiceCIDRs       []*net.IPNet
	ExtraCIDRs         []*net.IPNet
	HostIPs            []net.IP
	IPMasq             bool
	MTU                int
	Master             string
	Bridge             string
}

// ConfigError is invalid configuration; Field names the offending key.
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return fmt.Sprintf("invalid %s: %s", e.Field, e.Msg) }

func configErr(field, format string, args ...any) *ConfigError {
	return &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// ParseConfig decodes and validates stdin. It touches nothing outside its
// arguments, so bad input is rejected before anything is created. The
// prevResult is left raw: each command decides whether it needs one.
func ParseConfig(stdin []byte) (*Config, error) {
	var n NetConf
	if err := json.Unmarshal(stdin, &n); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			// encoding/json names fields of the embedded types.NetConf after
			// its type, which is not in the user's JSON.
			return nil, configErr(strings.TrimPrefix(te.Field, "NetConf."), "must be a JSON %s, not %s", te.Type, te.Value)
		}
		return nil, configErr("config", "decode JSON: %v", err)
	}
	if err := n.Log().Validate(); err != nil {
		var fe *pluginlog.FieldError
		if errors.As(err, &fe) {
			return nil, configErr(fe.Field, "%s", fe.Reason)
		}
		return nil, configErr("logOptions", "%v", err)
	}
	c := &Config{
		Raw:                &n,
		Mode:               Mode(n.Mode),
		HostInterface:      n.HostInterface,
		ContainerInterface: n.ContainerInterface,
		IPMasq:             n.IPMasq,
		MTU:                n.MTU,
		Master:             n.Master,
		Bridge:             n.Bridge,
	}
	switch c.Mode {
	case "":
		c.Mode = ModeVeth
	case ModeVeth, ModeMacvlanBridge:
	default:
		return nil, configErr("mode", "unknown mode %q, want %q or %q", n.Mode, ModeVeth, ModeMacvlanBridge)
	}
	if c.ContainerInterface == "" {
		c.ContainerInterface = DefaultContainerInterface
	}
	for field, name := range map[string]string{
		"hostInterface":      c.HostInterface,
		"containerInterface": c.ContainerInterface,
		"master":             c.Master,
		"bridge":             c.Bridge,
	} {
		if name == "" {
			continue
		}
		if err := validIfName(name); err != nil {
			return nil, configErr(field, "%q: %v", name, err)
		}
	}
	if n.MTU != 0 && (n.MTU < 68 || n.MTU > 65535) {
		return nil, configErr("mtu", "%d is outside 68..65535 (0 means the pod interface's MTU)", n.MTU)
	}
	var err error
	if c.ServiceCIDRs, err = parseCIDRs("serviceCIDRs", n.ServiceCIDRs); err != nil {
		return nil, err
	}
	if c.ExtraCIDRs, err = parseCIDRs("extraCIDRs", n.ExtraCIDRs); err != nil {
		return nil, err
	}
	for i, s := range n.HostIPs {
		ip := net.ParseIP(s)
		if ip == nil || ip.IsUnspecified() || ip.IsMulticast() || ip.IsLinkLocalUnicast() {
			return nil, configErr(fmt.Sprintf("hostIPs[%d]", i), "%q is not a unicast, non-link-local IP", s)
		}
		c.HostIPs = append(c.HostIPs, normalise(ip))
	}
	return c, nil
}

// routedCIDRs are the destinations the pod reaches via the host.
func (c *Config) routedCIDRs() []*net.IPNet {
	return append(append([]*net.IPNet{}, c.ServiceCIDRs...), c.ExtraCIDRs...)
}

func parseCIDRs(field string, in []string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for i, s := range in {
		ip, ipn, err := net.ParseCIDR(s)
		if err != nil {
			return nil, configErr(fmt.Sprintf("%s[%d]", field, i), "%q is not a CIDR", s)
		}
		if ones, _ := ipn.Mask.Size(); ones == 0 {
			// The pod's default route must stay on the underlay.
			return nil, configErr(fmt.Sprintf("%s[%d]", field, i), "%q would replace the pod's default route", s)
		}
		if !ip.Equal(ipn.IP) {
			return nil, configErr(fmt.Sprintf("%s[%d]", field, i), "%q has host bits set; did you mean %s?", s, ipn)
		}
		ipn.IP = normalise(ipn.IP)
		out = append(out, ipn)
	}
	return out, nil
}

// validIfName follows the kernel's dev_valid_name.
func validIfName(name string) error {
	switch {
	case len(name) > 15:
		return fmt.Errorf("longer than 15 characters")
	case name == "." || name == "..":
		return fmt.Errorf("not a valid interface name")
	case strings.ContainsAny(name, "/: \t\n\x00"):
		return fmt.Errorf("contains '/', ':' or whitespace")
	}
	return nil
}

// normalise returns 4-byte IPv4 addresses so that equality and family
// checks are plain.
func normalise(ip net.IP) net.IP {
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	return ip
}

func isV4(ip net.IP) bool { return ip.To4() != nil }

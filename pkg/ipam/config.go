package ipam

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/meta-cni/meta-cni/pkg/pluginlog"
)

// MaxRangeSets bounds the range sets of a config: an ADD writes an address
// key and a cursor per set, plus the owner, in one transaction.
const MaxRangeSets = 32

// Default timeouts. The kubelet gives a sandbox's whole network set-up 2
// minutes (--runtime-request-timeout), and a failed ADD costs the pod a
// back-off of 10 s or more; 15 s rides out a saturated node or an etcd
// election (whose own proposals give up after about 7 s) instead of failing
// work that would have finished. An unreachable etcd still fails at once.
const (
	DefaultDialTimeout    = 2 * time.Second
	DefaultRequestTimeout = 15 * time.Second
)

// Config is an etcd-ipam config after parsing and checking.
type Config struct {
	CNIVersion string
	Name       string // the network's name
	RangeSets  []*RangeSet
	Routes     []*types.Route
	DNS        types.DNS
	Exclude    []netip.Prefix
	Network    string // the scope that separates L2 domains reusing a CIDR
	NodeName   string
	// Static maps a range set index to the address requested for it.
	Static map[int]netip.Addr
	// StaticAnywhereInSubnet lets a requested address lie outside every
	// range or in an exclusion, as long as a configured subnet holds it.
	StaticAnywhereInSubnet bool
	Pod                    PodArgs
	Etcd                   EtcdConfig
	ValidAttachments       []types.GCAttachment
	RawPrevResult          map[string]any
	// Log is where the plugin's logs go: the ipam block's logFile,
	// logLevel, logToStderr and logOptions.
	Log pluginlog.Config
}

// PodArgs are the Kubernetes fields of CNI_ARGS that go into each record.
type PodArgs struct {
	Namespace, Name, UID string
}

type netConfJSON struct {
	CNIVersion    string          `json:"cniVersion"`
	Name          string          `json:"name"`
	IPAM          *ipamJSON       `json:"ipam"`
	RawPrevResult map[string]any  `json:"prevResult"`
	RuntimeConfig json.RawMessage `json:"runtimeConfig"`
	Args          *struct {
		CNI *struct {
			IPs []string `json:"ips"`
		} `json:"cni"`
	} `json:"args"`
	ValidAttachments []types.GCAttachment `json:"cni.dev/valid-attachments"`
}

type runtimeConfigJSON struct {
	IPs      []string      `json:"ips"`
	IPRanges [][]rangeJSON `json:"ipRanges"`
}

type rangeJSON struct {
	Subnet     string `json:"subnet"`
	RangeStart string `json:"rangeStart"`
	RangeEnd   string `json:"rangeEnd"`
	Gateway    string `json:"gateway"`
}

type ipamJSON struct {
	Type string `json:"type"`
	rangeJSON
	Ranges  [][]rangeJSON     `json:"ranges"`
	Routes  []json.RawMessage `json:"routes"`
	DNS     types.DNS         `json:"dns"`
	Exclude []string          `json:"exclude"`
	Network string            `json:"network"`
	// StaticAnywhereInSubnet: see Config.
	StaticAnywhereInSubnet bool               `json:"staticAnywhereInSubnet"`
	NodeName               string             `json:"nodeName"`
	Etcd                   *etcdJSON          `json:"etcd"`
	EtcdConfig             *legacyEtcdJSON    `json:"etcdConfig"`
	LogFile                string             `json:"logFile"`
	LogLevel               string             `json:"logLevel"`
	LogToStderr            *bool              `json:"logToStderr"`
	LogOptions             *pluginlog.Options `json:"logOptions"`
}

// validScope accepts letters, digits, '.', '_' and '-', at most 253, with a
// letter or digit at each end: a key segment that needs no escaping.
func validScope(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	for i := 0; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return alnum(s[0]) && alnum(s[len(s)-1])
}

// ParseConfig reads the plugin's stdin and CNI_ARGS. It touches no files:
// the endpoints file and TLS files are read when connecting.
func ParseConfig(stdin []byte, cniArgs string) (*Config, error) {
	var n netConfJSON
	if err := decodeStrict(stdin, &n); err != nil {
		return nil, err
	}
	if n.IPAM == nil {
		return nil, fieldErr("ipam", "missing")
	}
	c := &Config{
		CNIVersion:       n.CNIVersion,
		Name:             n.Name,
		DNS:              n.IPAM.DNS,
		Network:          n.IPAM.Network,
		NodeName:         n.IPAM.NodeName,
		ValidAttachments: n.ValidAttachments,
		RawPrevResult:    n.RawPrevResult,
		Log: pluginlog.Config{File: n.IPAM.LogFile, Level: n.IPAM.LogLevel,
			ToStderr: n.IPAM.LogToStderr, Options: n.IPAM.LogOptions},
	}
	if err := c.Log.Validate(); err != nil {
		var fe *pluginlog.FieldError
		if errors.As(err, &fe) {
			return nil, fieldErr("ipam."+fe.Field, "%s", fe.Reason)
		}
		return nil, fieldErr("ipam.logOptions", "%v", err)
	}
	if c.Network != "" && !validScope(c.Network) {
		return nil, fieldErr("ipam.network", "%q must be letters, digits, '.', '_' or '-', starting and ending with a letter or digit", c.Network)
	}
	var rc runtimeConfigJSON
	if len(n.RuntimeConfig) > 0 && string(n.RuntimeConfig) != "null" {
		if err := json.Unmarshal(n.RuntimeConfig, &rc); err != nil {
			return nil, fieldErr("runtimeConfig", "%v", err)
		}
	}
	var err error
	if c.Exclude, err = parseExclude(n.IPAM.Exclude); err != nil {
		return nil, err
	}
	if c.RangeSets, err = parseRangeSets(n.IPAM, rc.IPRanges, c.Exclude, n.CNIVersion); err != nil {
		return nil, err
	}
	if err := checkExcludeInSubnets(c.Exclude, c.RangeSets); err != nil {
		return nil, err
	}
	for i, raw := range n.IPAM.Routes {
		var r types.Route
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fieldErr(fmt.Sprintf("ipam.routes[%d]", i), "%v", err)
		}
		if r.Dst.IP == nil {
			return nil, fieldErr(fmt.Sprintf("ipam.routes[%d].dst", i), "missing")
		}
		c.Routes = append(c.Routes, &r)
	}
	if c.Etcd, err = parseEtcd(n.IPAM); err != nil {
		return nil, err
	}
	env, err := parseCNIArgs(cniArgs)
	if err != nil {
		return nil, err
	}
	c.Pod = PodArgs{Namespace: env["K8S_POD_NAMESPACE"], Name: env["K8S_POD_NAME"], UID: env["K8S_POD_UID"]}
	var requested []requestedAddr
	if ip := env["IP"]; ip != "" {
		for _, s := range strings.Split(ip, ",") {
			requested = append(requested, requestedAddr{"CNI_ARGS IP", s})
		}
	}
	if n.Args != nil && n.Args.CNI != nil {
		for i, s := range n.Args.CNI.IPs {
			requested = append(requested, requestedAddr{fmt.Sprintf("args.cni.ips[%d]", i), s})
		}
	}
	for i, s := range rc.IPs {
		requested = append(requested, requestedAddr{fmt.Sprintf("runtimeConfig.ips[%d]", i), s})
	}
	c.StaticAnywhereInSubnet = n.IPAM.StaticAnywhereInSubnet
	if c.Static, err = assignStatic(requested, c.RangeSets, c.Exclude, c.StaticAnywhereInSubnet); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeStrict turns JSON errors into ConfigErrors that name the field.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fieldErr(strings.ReplaceAll(te.Field, "rangeJSON.", ""), "cannot be a JSON %s", te.Value)
		}
		return fieldErr("config", "%v", err)
	}
	return nil
}

func parseExclude(in []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, s := range in {
		field := fmt.Sprintf("ipam.exclude[%d]", i)
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fieldErr(field, "%q is not a CIDR or an IP address", s)
			}
			out = append(out, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p.Addr())).Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return nil, fieldErr(field, "%q is not a CIDR or an IP address", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

func parseRangeSets(ij *ipamJSON, runtime [][]rangeJSON, exclude []netip.Prefix, cniVersion string) ([]*RangeSet, error) {
	type named struct {
		field string
		set   []rangeJSON
	}
	var all []named
	for i, set := range runtime {
		all = append(all, named{fmt.Sprintf("runtimeConfig.ipRanges[%d]", i), set})
	}
	if ij.Subnet != "" {
		all = append(all, named{"ipam", []rangeJSON{ij.rangeJSON}})
	} else if ij.RangeStart != "" || ij.RangeEnd != "" || ij.Gateway != "" {
		return nil, fieldErr("ipam.subnet", "missing, but rangeStart, rangeEnd or gateway is set")
	}
	for i, set := range ij.Ranges {
		all = append(all, named{fmt.Sprintf("ipam.ranges[%d]", i), set})
	}
	if len(all) == 0 {
		return nil, fieldErr("ipam.ranges", "no address range: set ipam.subnet or ipam.ranges")
	}
	if len(all) > MaxRangeSets {
		return nil, fieldErr("ipam.ranges", "%d range sets, at most %d: one ADD writes them all in one etcd transaction, which etcd caps at --max-txn-ops (128 by default)", len(all), MaxRangeSets)
	}
	var sets []*RangeSet
	v4, v6 := 0, 0
	for _, ns := range all {
		var ranges []Range
		for j, rj := range ns.set {
			field := fmt.Sprintf("%s[%d]", ns.field, j)
			if ns.field == "ipam" {
				field = "ipam"
			}
			r, err := NewRange(rj.Subnet, rj.RangeStart, rj.RangeEnd, rj.Gateway)
			if err != nil {
				return nil, inField(field, err)
			}
			ranges = append(ranges, r)
		}
		rs, err := NewRangeSet(ranges, exclude)
		if err != nil {
			return nil, inField(ns.field, err)
		}
		for k, prev := range sets {
			for _, a := range prev.Ranges {
				for _, b := range rs.Ranges {
					if a.Overlaps(b) {
						return nil, fieldErr(ns.field, "range %s overlaps range set %d (%s)", b, k, a)
					}
				}
			}
		}
		if rs.Is4() {
			v4++
		} else {
			v6++
		}
		sets = append(sets, rs)
	}
	if v4 > 1 || v6 > 1 {
		if ok, _ := version.GreaterThanOrEqualTo(cniVersion, "0.3.0"); !ok {
			return nil, fieldErr("cniVersion", "%s allows one address per family; use 0.3.0 or later for %d range sets", cniVersion, len(sets))
		}
	}
	return sets, nil
}

func checkExcludeInSubnets(exclude []netip.Prefix, sets []*RangeSet) error {
	for i, p := range exclude {
		found := false
		for _, s := range sets {
			for _, r := range s.Ranges {
				if r.Subnet.Overlaps(p) {
					found = true
				}
			}
		}
		if !found {
			return fieldErr(fmt.Sprintf("ipam.exclude[%d]", i), "%s is outside every configured subnet", p)
		}
	}
	return nil
}

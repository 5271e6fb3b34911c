package routing

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/ns"
)

// Attachment identifies the pod interface host-route serves.
type Attachment struct {
	ContainerID string
	IfName      string // the underlay interface in the pod, CNI_IFNAME
	NetNS       string // path of the pod's network namespace
}

// AttachmentFromArgs reads the attachment from the CNI environment.
func AttachmentFromArgs(args *skel.CmdArgs) Attachment {
	return Attachment{ContainerID: args.ContainerID, IfName: args.IfName, NetNS: args.Netns}
}

// errNoPrevResult is a config error: the prevResult is where pod IPs come from.
var errNoPrevResult = configErr("prevResult", "missing or without IPs: host-route must be chained after a plugin that assigns IPs (such as macvlan with IPAM)")

// Add connects the pod to its host. It runs in the host's network namespace
// and returns the prevResult with the veth, if any, added to its interfaces.
func Add(ctx context.Context, c *Config, a Attachment) (*current.Result, error) {
	prev, podIPs, err := prevResult(c, a.IfName)
	if err != nil {
		return nil, err
	}
	if podIPs == nil {
		return nil, errNoPrevResult
	}
	podNS, err := ns.GetNS(a.NetNS)
	if err != nil {
		return nil, &NetNSError{Path: a.NetNS, Err: err}
	}
	defer podNS.Close()
	hosts, err := hostIPs(c, podIPs)
	if err != nil {
		return nil, err
	}
	table := newNatTable(c, a, podIPs, hosts)
	switch c.Mode {
	case ModeMacvlanBridge:
		p, err := newBridgePlan(c, a, podNS, podIPs, hosts)
		if err != nil {
			return nil, err
		}
		if err := addBridge(ctx, p, a, podNS); err != nil {
			return nil, err
		}
		table.InIface = p.Name
		if err := table.apply(); err != nil {
			_ = delBridgePod(a, podNS)
			_ = delBridgeHost(ctx, p.Name, p.Metric)
			return nil, err
		}
	default:
		p := newVethPlan(c, a, podIPs, hosts)
		ifaces, err := addVeth(p, a, podNS)
		if err != nil {
			return nil, err
		}
		table.InIface = p.HostName
		if err := table.apply(); err != nil {
			_ = delVeth(p)
			return nil, err
		}
		prev.Interfaces = append(prev.Interfaces, ifaces...)
	}
	return prev, nil
}

// Del removes what Add added. It succeeds when the netns, the links or the
// prevResult are gone, and when called twice.
func Del(ctx context.Context, c *Config, a Attachment) error {
	var podNS ns.NetNS
	if a.NetNS != "" {
		if n, err := ns.GetNS(a.NetNS); err == nil {
			podNS = n
			defer podNS.Close()
		}
	}
	// Removing a table with a base chain and removing a link both wait for
	// an RCU grace period; overlapping them roughly halves DEL.
	tableErr := make(chan error, 1)
	go func() { tableErr <- deleteNatTable(TableName(a.ContainerID, a.IfName)) }()
	var errs []error
	switch c.Mode {
	case ModeMacvlanBridge:
		if podNS != nil {
			errs = append(errs, delBridgePod(a, podNS))
		}
		names, err := bridgeNames(c, a, podNS)
		errs = append(errs, err)
		for _, name := range names {
			errs = append(errs, delBridgeHost(ctx, name, attachmentMetric(a.ContainerID, a.IfName)))
		}
	default:
		errs = append(errs, delVeth(newVethPlan(c, a, nil, nil)))
	}
	return errors.Join(append(errs, <-tableErr)...)
}

// bridgeNames is the sub-interface DEL cleans: the configured one, the
// default for the master, or, when the master cannot be found, every one
// host-route made.
func bridgeNames(c *Config, a Attachment, podNS ns.NetNS) ([]string, error) {
	if c.Bridge != "" {
		return []string{c.Bridge}, nil
	}
	master, err := resolveMaster(c, a, podNS)
	if err == nil {
		return []string{DefaultBridgeName(master.Attrs().Name)}, nil
	}
	if ce := (*ConfigError)(nil); !errors.As(err, &ce) {
		return nil, err
	}
	return ownBridges()
}

// Check verifies the links, the routes on both sides and the pod's
// nftables table.
func Check(c *Config, a Attachment) error {
	_, podIPs, err := prevResult(c, a.IfName)
	if err != nil {
		return err
	}
	if podIPs == nil {
		return errNoPrevResult
	}
	podNS, err := ns.GetNS(a.NetNS)
	if err != nil {
		return &NetNSError{Path: a.NetNS, Err: err}
	}
	defer podNS.Close()
	hosts, err := hostIPs(c, podIPs)
	if err != nil {
		return err
	}
	table := newNatTable(c, a, podIPs, hosts)
	switch c.Mode {
	case ModeMacvlanBridge:
		var p bridgePlan
		if p, err = newBridgePlan(c, a, podNS, podIPs, hosts); err == nil {
			table.InIface = p.Name
			err = checkBridge(p, a, podNS)
		}
	default:
		p := newVethPlan(c, a, podIPs, hosts)
		table.InIface = p.HostName
		err = checkVeth(p, podNS)
	}
	return errors.Join(err, natTableExists(table))
}

// Status reports whether an ADD could succeed: nftables answers and the
// links the config names exist.
func Status(c *Config) error {
	if err := nftAvailable(); err != nil {
		return err
	}
	for field, name := range map[string]string{"hostInterface": c.HostInterface, "master": c.Master} {
		if name != "" {
			if _, err := hostLink(field, name); err != nil {
				return err
			}
		}
	}
	return nil
}

// newNatTable is the attachment's table; the caller sets InIface.
func newNatTable(c *Config, a Attachment, podIPs, hosts []net.IP) natTable {
	return natTable{
		Name:    TableName(a.ContainerID, a.IfName),
		Comment: tableComment(c.Raw.Name, a.ContainerID, a.IfName),
		PodIPs:  podIPs,
		HostIPs: hosts,
		Masq:    c.IPMasq,
	}
}

// NetNSError is a CNI_NETNS that cannot be opened.
type NetNSError struct {
	Path string
	Err  error
}

func (e *NetNSError) Error() string { return fmt.Sprintf("open netns %q: %v", e.Path, e.Err) }
func (e *NetNSError) Unwrap() error { return e.Err }

// prevResult converts the chained result to the current type and picks the
// IPs of the pod interface. A missing prevResult gives nil IPs, no error.
func prevResult(c *Config, ifName string) (*current.Result, []net.IP, error) {
	if c.Raw.RawPrevResult == nil {
		return nil, nil, nil
	}
	if err := version.ParsePrevResult(&c.Raw.NetConf); err != nil {
		return nil, nil, configErr("prevResult", "%v", err)
	}
	res, err := current.NewResultFromResult(c.Raw.PrevResult)
	if err != nil {
		return nil, nil, configErr("prevResult", "convert: %v", err)
	}
	// JSON null entries decode as nil pointers; a broken result is the
	// chain's config error, never a panic.
	for n, intf := range res.Interfaces {
		if intf == nil {
			return nil, nil, configErr("prevResult", "interfaces[%d] is null", n)
		}
	}
	var ips []net.IP
	for n, ipc := range res.IPs {
		if ipc == nil {
			return nil, nil, configErr("prevResult", "ips[%d] is null", n)
		}
		if i := ipc.Interface; i != nil && *i >= 0 && *i < len(res.Interfaces) && res.Interfaces[*i].Name != ifName {
			continue
		}
		if ipc.Address.IP != nil {
			ips = append(ips, normalise(ipc.Address.IP))
		}
	}
	return res, ips, nil
}

// CNIError maps an error to the CNI error the runtime receives.
func CNIError(err error) *types.Error {
	var te *types.Error
	var ce *ConfigError
	var ne *NetNSError
	switch {
	case errors.As(err, &te):
		return te
	case errors.As(err, &ce):
		return types.NewError(types.ErrInvalidNetworkConfig, err.Error(), "")
	case errors.As(err, &ne):
		return types.NewError(types.ErrInvalidEnvironmentVariables, err.Error(), "")
	case errors.Is(err, ErrLockTimeout):
		return types.NewError(types.ErrTryAgainLater, err.Error(), "")
	}
	return types.NewError(types.ErrInternal, err.Error(), "")
}

package ipam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/meta-cni/meta-cni/pkg/node"
	"github.com/meta-cni/meta-cni/pkg/pluginlog"
)

// Funcs is the plugin's CNI verbs, for skel.PluginMainFuncs.
func Funcs() skel.CNIFuncs {
	return skel.CNIFuncs{
		Add:    func(a *skel.CmdArgs) error { return wrap(cmdAdd(a)) },
		Del:    func(a *skel.CmdArgs) error { return wrap(cmdDel(a)) },
		Check:  func(a *skel.CmdArgs) error { return wrap(cmdCheck(a)) },
		GC:     func(a *skel.CmdArgs) error { return wrap(cmdGC(a)) },
		Status: func(a *skel.CmdArgs) error { return wrap(cmdStatus(a)) },
	}
}

// wrap hands skel a typed CNI error; a nil *types.Error must stay untyped nil.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	return cniError(err)
}

// session is one plugin call: its config, a client and a deadline.
type session struct {
	cfg      *Config
	etcd     *Etcd
	store    *Store
	log      *slog.Logger
	closeLog func()
	ctx      context.Context
	cancel   context.CancelFunc
}

func open(args *skel.CmdArgs) (*session, error) {
	cfg, err := ParseConfig(args.StdinData, args.Args)
	if err != nil {
		return nil, err
	}
	if cfg.NodeName == "" {
		cfg.NodeName = node.Name()
	}
	e, err := Connect(cfg.Etcd)
	if err != nil {
		return nil, err
	}
	log, closeLog := pluginlog.New("etcd-ipam", cfg.Log)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Etcd.RequestTimeout)
	return &session{cfg: cfg, etcd: e, store: NewStore(e, cfg.Network, log), log: log, closeLog: closeLog, ctx: ctx, cancel: cancel}, nil
}

func (s *session) close() {
	s.cancel()
	_ = s.etcd.Close()
	s.closeLog()
}

func cmdAdd(args *skel.CmdArgs) error {
	s, err := open(args)
	if err != nil {
		return err
	}
	defer s.close()
	start := time.Now()
	assigned, err := s.store.Allocate(s.ctx, Request{
		Owner: Record{
			ContainerID:  args.ContainerID,
			IfName:       args.IfName,
			PodNamespace: s.cfg.Pod.Namespace,
			PodName:      s.cfg.Pod.Name,
			PodUID:       s.cfg.Pod.UID,
			Node:         s.cfg.NodeName,
			Network:      s.cfg.Name,
		},
		Sets:   s.cfg.RangeSets,
		Static: s.cfg.Static,
	})
	if err != nil {
		s.log.Warn("allocation failed", "containerID", args.ContainerID, "ifname", args.IfName, "err", err)
		return err
	}
	s.log.Info("allocated", "containerID", args.ContainerID, "ifname", args.IfName, "addrs", assigned, "duration", time.Since(start))
	return types.PrintResult(result(s.cfg, assigned), s.cfg.CNIVersion)
}

// result builds the CNI result: one address per range set, with the
// gateway of the range it came from.
func result(cfg *Config, assigned []Assigned) *current.Result {
	r := &current.Result{CNIVersion: current.ImplementedSpecVersion, Routes: cfg.Routes, DNS: cfg.DNS}
	for _, a := range assigned {
		ipc := &current.IPConfig{Address: net.IPNet{IP: a.Addr.AsSlice(), Mask: net.CIDRMask(a.Subnet.Bits(), a.Addr.BitLen())}}
		if a.Set >= 0 {
			if idx, _ := cfg.RangeSets[a.Set].RangeFor(a.Addr); idx >= 0 {
				ipc.Gateway = cfg.RangeSets[a.Set].Ranges[idx].Gateway.AsSlice()
			}
		}
		r.IPs = append(r.IPs, ipc)
	}
	return r
}

func cmdDel(args *skel.CmdArgs) error {
	s, err := open(args)
	if err != nil {
		return err
	}
	defer s.close()
	addrs, err := s.store.Release(s.ctx, args.ContainerID, args.IfName)
	if err != nil {
		return err
	}
	s.log.Info("released", "containerID", args.ContainerID, "ifname", args.IfName, "addrs", addrs)
	return nil
}

func cmdCheck(args *skel.CmdArgs) error {
	s, err := open(args)
	if err != nil {
		return err
	}
	defer s.close()
	held, err := s.store.Lookup(s.ctx, args.ContainerID, args.IfName)
	if err != nil {
		return err
	}
	if held == nil {
		return &UnknownContainerError{ContainerID: args.ContainerID, IfName: args.IfName}
	}
	if len(held.Missing) > 0 {
		return &MismatchError{Msg: fmt.Sprintf("container %s interface %s: etcd no longer holds %v for it", args.ContainerID, args.IfName, held.Missing)}
	}
	return checkPrevResult(s.cfg, held)
}

// checkPrevResult compares the addresses of prevResult that fall in this
// config's subnets with those etcd holds for the owner.
func checkPrevResult(cfg *Config, held *Held) error {
	if cfg.RawPrevResult == nil {
		return nil
	}
	prev, err := parsePrevResult(cfg)
	if err != nil {
		return err
	}
	var inPrev []netip.Addr
	for _, ipc := range prev.IPs {
		a, ok := netip.AddrFromSlice(ipc.Address.IP)
		if !ok {
			continue
		}
		a = a.Unmap()
		for _, set := range cfg.RangeSets {
			if idx, _ := set.RangeFor(a); idx >= 0 {
				inPrev = append(inPrev, a)
				break
			}
		}
	}
	var inEtcd []netip.Addr
	for _, oa := range held.Addrs {
		inEtcd = append(inEtcd, oa.Addr)
	}
	for _, a := range inPrev {
		if !slices.Contains(inEtcd, a) {
			return &MismatchError{Msg: fmt.Sprintf("prevResult has %s but etcd holds %v for container %s interface %s", a, inEtcd, held.ContainerID, held.IfName)}
		}
	}
	for _, a := range inEtcd {
		if !slices.Contains(inPrev, a) {
			return &MismatchError{Msg: fmt.Sprintf("etcd holds %s for container %s interface %s but prevResult lacks it", a, held.ContainerID, held.IfName)}
		}
	}
	return nil
}

func parsePrevResult(cfg *Config) (*current.Result, error) {
	conf := &types.NetConf{CNIVersion: cfg.CNIVersion, RawPrevResult: cfg.RawPrevResult}
	if err := version.ParsePrevResult(conf); err != nil {
		return nil, fieldErr("prevResult", "%v", err)
	}
	r, err := current.NewResultFromResult(conf.PrevResult)
	if err != nil {
		return nil, fieldErr("prevResult", "%v", err)
	}
	// A JSON null entry decodes as a nil pointer: a config error, not a panic.
	for n, ipc := range r.IPs {
		if ipc == nil {
			return nil, fieldErr("prevResult", "ips[%d] is null", n)
		}
	}
	return r, nil
}

func cmdGC(args *skel.CmdArgs) error {
	s, err := open(args)
	if err != nil {
		return err
	}
	defer s.close()
	// GC releases what this node holds; without the node's own name it
	// cannot tell its allocations from another node's.
	if s.cfg.NodeName == "" {
		return fieldErr("ipam.nodeName", "GC on network %q needs this node's Kubernetes name: set ipam nodeName or NODE_NAME (meta-cni passes the nodeName meta-cni-daemon writes into its conf); the hostname is never used, since cloned machines share one", s.cfg.Name)
	}
	valid := map[[2]string]bool{}
	for _, a := range s.cfg.ValidAttachments {
		valid[[2]string{a.ContainerID, a.IfName}] = true
	}
	released, err := s.store.GC(s.ctx, Pools(s.cfg), s.cfg.NodeName, s.cfg.Name, valid)
	if err != nil {
		return err
	}
	s.log.Info("gc done", "node", s.cfg.NodeName, "released", len(released))
	return nil
}

// cmdStatus reports whether ADD can work: the config parses and etcd answers.
func cmdStatus(args *skel.CmdArgs) error {
	s, err := open(args)
	if err != nil {
		return err
	}
	defer s.close()
	_, err = s.store.txn(s.ctx, nil, nil, nil)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			return err
		}
		return types.NewError(types.ErrPluginNotAvailable, "etcd-ipam cannot allocate: "+err.Error(), "")
	}
	return nil
}

// Pools lists the subnets a config allocates from, each once: a subnet
// inside another one of the config is read with it.
func Pools(cfg *Config) []Pool {
	var subnets []netip.Prefix
	for _, set := range cfg.RangeSets {
		for _, r := range set.Ranges {
			subnets = append(subnets, r.Subnet)
		}
	}
	var out []Pool
	for _, p := range coveringSubnets(subnets) {
		out = append(out, NewPool(cfg.Etcd.Prefix, cfg.Network, p))
	}
	return out
}

package ipam

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/meta-cni/meta-cni/pkg/pluginlog"
)

// PoolReport is what an operator sees of one range set: its size, how much
// of it is used, and who holds each address of its subnets.
type PoolReport struct {
	RangeSet    string      `json:"rangeSet"`
	Scope       string      `json:"scope"`
	Subnets     []string    `json:"subnets"`
	Allocatable uint64      `json:"allocatable"`
	Used        uint64      `json:"used"`
	Free        uint64      `json:"free"`
	Entries     []PoolEntry `json:"entries"`
}

// Inspect reads the pools of a config. Entries include every address held
// in the set's subnets, also those handed out by other configs (whatever
// their mask) or requested statically outside the range; Used counts only
// the set's own addresses.
func Inspect(ctx context.Context, s *Store, cfg *Config) ([]PoolReport, error) {
	var out []PoolReport
	scope := NewScope(cfg.Etcd.Prefix, cfg.Network)
	for _, set := range cfg.RangeSets {
		rep := PoolReport{RangeSet: set.String(), Scope: scope.Key, Allocatable: set.Size(), Entries: []PoolEntry{}}
		var subnets []netip.Prefix
		for _, r := range set.Ranges {
			subnets = append(subnets, r.Subnet)
		}
		for _, subnet := range coveringSubnets(subnets) {
			rep.Subnets = append(rep.Subnets, subnet.String())
			entries, err := s.List(ctx, Pool{Scope: scope, Subnet: subnet})
			if err != nil {
				return nil, err
			}
			for _, e := range entries {
				if set.Allocatable(e.Addr) {
					rep.Used++
				}
			}
			rep.Entries = append(rep.Entries, entries...)
		}
		rep.Free = rep.Allocatable - min(rep.Used, rep.Allocatable)
		out = append(out, rep)
	}
	return out, nil
}

// PoolCommand is `etcd-ipam pool [-o text|json] CONFIG`: CONFIG is a
// conflist, a network config or a bare ipam block. It returns the exit code.
func PoolCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("etcd-ipam pool", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("o", "text", "output format: text or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: etcd-ipam pool [-o text|json] CONFIG\n\nShows used and free counts of each range set in CONFIG and who holds each address.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 || (*format != "text" && *format != "json") {
		fs.Usage()
		return 2
	}
	store, cfg, closeStore, err := openStore(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer closeStore()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Etcd.RequestTimeout)
	defer cancel()
	reports, err := Inspect(ctx, store, cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(reports)
		return 0
	}
	for _, rep := range reports {
		fmt.Fprintf(stdout, "range set %s\n  scope %s, subnets %s\n  allocatable %d, used %d, free %d\n", rep.RangeSet, rep.Scope, strings.Join(rep.Subnets, ", "), rep.Allocatable, rep.Used, rep.Free)
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ADDRESS\tPOD\tCONTAINER\tIFNAME\tNODE\tSINCE")
		for _, en := range rep.Entries {
			pod := "-"
			if en.PodName != "" {
				pod = en.PodNamespace + "/" + en.PodName
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", en.Addr, pod, en.ContainerID, en.IfName, en.Node, en.Time.Format(time.RFC3339))
		}
		tw.Flush()
	}
	return 0
}

// openStore loads the etcd-ipam config in file (a conflist, a network
// config or a bare ipam block) and connects to its etcd.
func openStore(file string) (*Store, *Config, func(), error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, nil, err
	}
	conf, err := NetConfFromFile(raw)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	cfg, err := ParseConfig(conf, "")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	e, err := Connect(cfg.Etcd)
	if err != nil {
		return nil, nil, nil, err
	}
	log, closeLog := pluginlog.New("etcd-ipam", cfg.Log)
	return NewStore(e, cfg.Network, log), cfg, func() { e.Close(); closeLog() }, nil
}

// NetConfFromFile finds the etcd-ipam config in a conflist, a network
// config or a bare ipam block, and returns it as a network config.
func NetConfFromFile(raw []byte) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, err
	}
	if plugins, ok := top["plugins"]; ok {
		var list []map[string]json.RawMessage
		if err := json.Unmarshal(plugins, &list); err != nil {
			return nil, fmt.Errorf("plugins: %w", err)
		}
		for _, p := range list {
			if ipamBlock, ok := p["ipam"]; ok {
				return json.Marshal(map[string]json.RawMessage{"cniVersion": top["cniVersion"], "name": top["name"], "ipam": ipamBlock})
			}
		}
		return nil, errors.New("no plugin in the list has an ipam block")
	}
	if _, ok := top["ipam"]; ok {
		return raw, nil
	}
	return json.Marshal(map[string]json.RawMessage{"ipam": raw})
}

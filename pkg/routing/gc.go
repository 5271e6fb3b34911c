package routing

import (
	"errors"
	"fmt"
	"strings"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netlink"
)

// GC removes what host-route made for attachments of this network that are
// not in the config's cni.dev/valid-attachments: host veths (found by their
// alias) and per-pod nftables tables (found by their rules' comment). Other
// networks' state is never touched. Routes on a shared macvlan-bridge
// sub-interface carry no network, so GC leaves them to DEL.
func GC(c *Config) error {
	validVeths, validTables := map[string]bool{}, map[string]bool{}
	for _, a := range c.Raw.ValidAttachments {
		validVeths[HostVethName(a.ContainerID, a.IfName)] = true
		validTables[TableName(a.ContainerID, a.IfName)] = true
	}
	return errors.Join(gcVeths(vethAlias(c.Raw.Name), validVeths), gcTables(plain(c.Raw.Name), validTables))
}

func gcVeths(alias string, valid map[string]bool) error {
	links, err := netlinksafe.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	var errs []error
	for _, l := range links {
		if _, ok := l.(*netlink.Veth); !ok || l.Attrs().Alias != alias || valid[l.Attrs().Name] {
			continue
		}
		if err := netlink.LinkDel(l); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("delete stale veth %s: %w", l.Attrs().Name, err))
		}
	}
	return errors.Join(errs...)
}

func gcTables(network string, valid map[string]bool) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return fmt.Errorf("list nftables tables: %w", err)
	}
	var errs []error
	for _, t := range tables {
		if !strings.HasPrefix(t.Name, tablePrefix) || valid[t.Name] || tableNetwork(c, t) != network {
			continue
		}
		if err := deleteNatTable(t.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// tableNetwork reads the network from the first rule's comment; "" when
// the table has none, which GC then leaves alone.
func tableNetwork(c *nftables.Conn, t *nftables.Table) string {
	chain, err := c.ListChain(t, "postrouting")
	if err != nil {
		return ""
	}
	rules, err := c.GetRules(t, chain)
	if err != nil || len(rules) == 0 {
		return ""
	}
	comment, _ := userdata.GetString(rules[0].UserData, userdata.TypeComment)
	return commentNetwork(comment)
}

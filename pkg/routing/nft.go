package routing

import (
	"encoding/binary"
	"fmt"
	"net"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// natTable is one attachment's nftables table. It lives in its own table so
// that DEL removes exactly it, and concurrent ADDs and DELs never edit the
// same object. It is written over netlink in one atomic batch: no nft
// binary is needed, and no process is started on the pod's ADD path.
type natTable struct {
	Name    string
	Comment string
	InIface string   // host link the pod's traffic arrives on
	PodIPs  []net.IP // sources to match
	HostIPs []net.IP // SNAT target per family
	Masq    bool
}

// natPriority is srcnat.
const natPriority = 100

// ipsDstNAT is IPS_DST_NAT of the conntrack status bits.
const ipsDstNAT = 1 << 5

func (t natTable) table() *nftables.Table {
	return &nftables.Table{Name: t.Name, Family: nftables.TableFamilyINet}
}

// rules are, per pod IP, in nft syntax:
//
//	iifname "<in>" ip saddr <pod> ct status dnat snat ip to <host>
//	iifname "<in>" ip saddr <pod> masquerade            (ipMasq only)
//
// The first makes Services work: a backend on the underlay would otherwise
// answer the pod directly, bypassing the host's conntrack, and the pod would
// drop a reply from an address it never called.
func (t natTable) rules() [][]expr.Any {
	var out [][]expr.Any
	for _, pod := range t.PodIPs {
		match := t.match(pod)
		if host := firstOfFamily(t.HostIPs, isV4(pod)); host != nil {
			snat := append(append([]expr.Any{}, match...),
				&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
				&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
					Mask: binary.NativeEndian.AppendUint32(nil, ipsDstNAT), Xor: make([]byte, 4)},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
				&expr.Immediate{Register: 1, Data: ipBytes(host)},
				&expr.NAT{Type: expr.NATTypeSourceNAT, Family: uint32(nfproto(host)), RegAddrMin: 1},
			)
			out = append(out, snat)
		}
		if t.Masq {
			out = append(out, append(append([]expr.Any{}, match...), &expr.Masq{}))
		}
	}
	return out
}

// match is `iifname "<in>" ip[6] saddr <pod>`, with the nfproto check an
// inet table needs before it reads an address.
func (t natTable) match(pod net.IP) []expr.Any {
	ifname := make([]byte, unix.IFNAMSIZ)
	copy(ifname, t.InIface)
	offset, length := uint32(12), uint32(4)
	if !isV4(pod) {
		offset, length = 8, 16
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname},
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{nfproto(pod)}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: length},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ipBytes(pod)},
	}
}

// apply writes the table in one transaction. A repeated ADD flushes and
// rewrites the same table.
func (t natTable) apply() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	table := c.AddTable(t.table())
	c.FlushTable(table)
	chain := c.AddChain(&nftables.Chain{
		Name:     "postrouting",
		Table:    table,
		Type:     nftables.ChainTypeNAT,
		Hooknum:  nftables.ChainHookPostrouting,
		Priority: nftables.ChainPriorityRef(natPriority),
	})
	comment := userdata.AppendString(nil, userdata.TypeComment, t.Comment)
	for _, exprs := range t.rules() {
		c.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: exprs, UserData: comment})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("install nftables table inet %s: %w", t.Name, err)
	}
	return nil
}

// deleteNatTable removes the table whether or not it exists: adding it
// first makes the delete safe, in one atomic transaction.
func deleteNatTable(name string) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := &nftables.Table{Name: name, Family: nftables.TableFamilyINet}
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete nftables table inet %s: %w", name, err)
	}
	return nil
}

// natTableExists is CHECK's test that the pod's table is installed with
// its chain and as many rules as the config asks for.
func natTableExists(t natTable) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	chain, err := c.ListChain(t.table(), "postrouting")
	if err != nil {
		return fmt.Errorf("nftables chain inet %s postrouting: %w", t.Name, err)
	}
	rules, err := c.GetRules(t.table(), chain)
	if err != nil {
		return fmt.Errorf("nftables rules of inet %s: %w", t.Name, err)
	}
	if want := len(t.rules()); len(rules) != want {
		return fmt.Errorf("nftables table inet %s has %d rules, want %d", t.Name, len(rules), want)
	}
	return nil
}

// nftAvailable is STATUS's probe: the kernel answers nftables requests.
func nftAvailable() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	if _, err := c.ListTablesOfFamily(nftables.TableFamilyINet); err != nil {
		return fmt.Errorf("nftables is not usable: %w", err)
	}
	return nil
}

// tableComment identifies the attachment and its network for an operator
// reading `nft list ruleset`, and for GC, which only touches its own
// network's tables. The IDs come from the runtime, so only plain characters
// survive.
func tableComment(network, containerID, ifName string) string {
	c := "host-route " + plain(network) + " " + plain(containerID) + " " + plain(ifName)
	if len(c) > 120 {
		c = c[:120]
	}
	return c
}

// commentNetwork is the network a table comment names.
func commentNetwork(comment string) string {
	f := strings.Fields(comment)
	if len(f) < 2 || f[0] != "host-route" {
		return ""
	}
	return f[1]
}

func plain(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

func nfproto(ip net.IP) byte {
	if isV4(ip) {
		return unix.NFPROTO_IPV4
	}
	return unix.NFPROTO_IPV6
}

func ipBytes(ip net.IP) []byte {
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	return ip.To16()
}

func firstOfFamily(ips []net.IP, v4 bool) net.IP {
	for _, ip := range ips {
		if isV4(ip) == v4 {
			return ip
		}
	}
	return nil
}

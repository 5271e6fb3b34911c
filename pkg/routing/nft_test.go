package routing

import (
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

func dualStackTable(masq bool) natTable {
	return natTable{
		Name:    "meta_cni_hr_abc",
		Comment: "host-route c1 eth0",
		InIface: "hrabc",
		PodIPs:  []net.IP{net.ParseIP("10.10.20.53").To4(), net.ParseIP("fd10::53")},
		HostIPs: []net.IP{net.ParseIP("10.10.20.152").To4(), net.ParseIP("fd10::152")},
		Masq:    masq,
	}
}

// TestNatTableAsNftSeesIt writes the table over netlink into a fresh netns
// and reads it back with the nft CLI: the expressions must mean exactly the
// rules the README documents. Deleting it twice must leave no table.
func TestNatTableAsNftSeesIt(t *testing.T) {
	testenv.RequireRoot(t)
	node := testenv.NewNS(t)
	for _, tc := range []struct {
		table natTable
		want  []string
	}{
		{dualStackTable(true), []string{
			`iifname "hrabc" ip saddr 10.10.20.53 ct status dnat snat ip to 10.10.20.152 comment "host-route c1 eth0"`,
			`iifname "hrabc" ip saddr 10.10.20.53 masquerade comment "host-route c1 eth0"`,
			`iifname "hrabc" ip6 saddr fd10::53 ct status dnat snat ip6 to fd10::152 comment "host-route c1 eth0"`,
			`iifname "hrabc" ip6 saddr fd10::53 masquerade comment "host-route c1 eth0"`,
		}},
		// Without ipMasq and without an IPv6 host address, only the IPv4
		// Service rule remains.
		{func() natTable { tb := dualStackTable(false); tb.HostIPs = tb.HostIPs[:1]; return tb }(), []string{
			`iifname "hrabc" ip saddr 10.10.20.53 ct status dnat snat ip to 10.10.20.152 comment "host-route c1 eth0"`,
		}},
	} {
		err := node.Do(func(ns.NetNS) error {
			// Twice: a repeated ADD rewrites, it does not append.
			if err := tc.table.apply(); err != nil {
				return err
			}
			if err := tc.table.apply(); err != nil {
				return err
			}
			return natTableExists(tc.table)
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := testenv.RunIn(node, "nft", "list", "table", "inet", tc.table.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "type nat hook postrouting priority srcnat; policy accept;") {
			t.Errorf("chain is not a srcnat postrouting chain:\n%s", out)
		}
		var got []string
		for _, line := range strings.Split(out, "\n") {
			if line = strings.TrimSpace(line); strings.HasPrefix(line, "iifname") {
				got = append(got, regexp.MustCompile(`\s+`).ReplaceAllString(line, " "))
			}
		}
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("nft shows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
		err = node.Do(func(ns.NetNS) error {
			if err := deleteNatTable(tc.table.Name); err != nil {
				return err
			}
			return deleteNatTable(tc.table.Name)
		})
		if err != nil {
			t.Fatalf("delete twice: %v", err)
		}
		if out, _ := testenv.RunIn(node, "nft", "list", "ruleset"); strings.TrimSpace(out) != "" {
			t.Errorf("ruleset after delete:\n%s", out)
		}
	}
}

func TestTableCommentNeedsNoQuotingAndNamesTheNetwork(t *testing.T) {
	got := tableComment("underlay", `c1"; flush ruleset; "`, "eth0")
	if want := "host-route underlay c1___flush_ruleset___ eth0"; got != want {
		t.Errorf("tableComment = %q, want %q", got, want)
	}
	if n := commentNetwork(got); n != "underlay" {
		t.Errorf("commentNetwork(%q) = %q", got, n)
	}
	if got := tableComment("n", strings.Repeat("a", 200), "eth0"); len(got) > 120 {
		t.Errorf("tableComment is %d characters long", len(got))
	}
	if n := commentNetwork("something else"); n != "" {
		t.Errorf("commentNetwork of a foreign comment = %q", n)
	}
}

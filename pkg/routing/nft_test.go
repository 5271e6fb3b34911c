package routing

import (
	"net"
	"strings"
	"testing"
)

func TestNatTableScript(t *testing.T) {
	tbl := natTable{
		Name:    "meta_cni_hr_abc",
		Comment: "host-route c1 eth0",
		InIface: "hrabc",
		PodIPs:  []net.IP{net.ParseIP("10.10.20.53").To4(), net.ParseIP("fd10::53")},
		HostIPs: []net.IP{net.ParseIP("10.10.20.152").To4(), net.ParseIP("fd10::152")},
		Masq:    true,
	}
	want := `add table inet meta_cni_hr_abc { comment "host-route c1 eth0"; }
flush table inet meta_cni_hr_abc
add chain inet meta_cni_hr_abc postrouting { type nat hook postrouting priority 100; policy accept; }
add rule inet meta_cni_hr_abc postrouting iifname "hrabc" ip saddr 10.10.20.53 ct status dnat snat ip to 10.10.20.152
add rule inet meta_cni_hr_abc postrouting iifname "hrabc" ip saddr 10.10.20.53 masquerade
add rule inet meta_cni_hr_abc postrouting iifname "hrabc" ip6 saddr fd10::53 ct status dnat snat ip6 to fd10::152
add rule inet meta_cni_hr_abc postrouting iifname "hrabc" ip6 saddr fd10::53 masquerade
`
	if got := tbl.script(); got != want {
		t.Errorf("script:\n%s\nwant:\n%s", got, want)
	}

	// Without ipMasq and without an IPv6 host address, only the IPv4
	// Service rule remains.
	tbl.Masq, tbl.HostIPs = false, tbl.HostIPs[:1]
	want = `add table inet meta_cni_hr_abc { comment "host-route c1 eth0"; }
flush table inet meta_cni_hr_abc
add chain inet meta_cni_hr_abc postrouting { type nat hook postrouting priority 100; policy accept; }
add rule inet meta_cni_hr_abc postrouting iifname "hrabc" ip saddr 10.10.20.53 ct status dnat snat ip to 10.10.20.152
`
	if got := tbl.script(); got != want {
		t.Errorf("script:\n%s\nwant:\n%s", got, want)
	}
}

func TestDeleteTableScriptIsIdempotent(t *testing.T) {
	want := "add table inet t\ndelete table inet t\n"
	if got := deleteTableScript("t"); got != want {
		t.Errorf("deleteTableScript = %q, want %q", got, want)
	}
}

func TestTableCommentNeedsNoQuoting(t *testing.T) {
	got := tableComment(`c1"; flush ruleset; "`, "eth0")
	if want := "host-route c1___flush_ruleset___ eth0"; got != want {
		t.Errorf("tableComment = %q, want %q", got, want)
	}
	if got := tableComment(strings.Repeat("a", 200), "eth0"); len(got) > 100 {
		t.Errorf("tableComment is %d characters long", len(got))
	}
}

package e2enode

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// hostWide are the machine's values a node must never change: kube-proxy
// sets the conntrack ones unless told not to (nf_conntrack_max and the
// hash size are host-wide whatever the netns), the others are what a
// careless proxy or bridge would turn on in the root netns.
var hostWide = []string{
	"/proc/sys/net/netfilter/nf_conntrack_max",
	"/sys/module/nf_conntrack/parameters/hashsize",
	"/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established",
	"/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_close_wait",
	"/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal",
	"/proc/sys/net/ipv4/conf/all/route_localnet",
	"/proc/sys/net/ipv4/ip_forward",
	"/proc/sys/net/bridge/bridge-nf-call-iptables",
}

// machineNetfilter is the root netns's firewall and the hostWide values.
type machineNetfilter struct {
	rulesets map[string]string // command → output without comments
	values   map[string]string
}

func readMachineNetfilter(t *testing.T) machineNetfilter {
	t.Helper()
	m := machineNetfilter{rulesets: map[string]string{}, values: map[string]string{}}
	for _, argv := range [][]string{{"iptables-save"}, {"ip6tables-save"}, {"nft", "list", "ruleset"}} {
		if _, err := exec.LookPath(argv[0]); err != nil {
			continue
		}
		out, err := exec.Command(argv[0], argv[1:]...).Output()
		if err != nil {
			t.Fatalf("%s on the machine: %v", strings.Join(argv, " "), err)
		}
		var lines []string
		for _, l := range strings.Split(string(out), "\n") {
			// iptables-save's comments carry the time of the dump.
			if l != "" && !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
		m.rulesets[strings.Join(argv, " ")] = strings.Join(lines, "\n")
	}
	for _, f := range hostWide {
		b, err := os.ReadFile(f)
		if err != nil {
			m.values[f] = "unreadable: " + err.Error()
			continue
		}
		m.values[f] = strings.TrimSpace(string(b))
	}
	return m
}

// diff lists what changed from m to now.
func (m machineNetfilter) diff(now machineNetfilter) []string {
	var d []string
	for cmd, before := range m.rulesets {
		if after := now.rulesets[cmd]; after != before {
			d = append(d, fmt.Sprintf("%s: %d lines before, %d after:\n%s", cmd, lines(before), lines(after), after))
		}
	}
	for f, before := range m.values {
		if after := now.values[f]; after != before {
			d = append(d, fmt.Sprintf("%s: %s before, %s after", f, before, after))
		}
	}
	return d
}

func lines(s string) int {
	if s == "" {
		return 0
	}
	return strings.Count(s, "\n") + 1
}

// machineNetfilterUnchanged records the machine's firewall and host-wide
// values now and, at cleanup, after the cluster's own teardown (call it
// before startCluster: cleanups run last-registered first), fails the test
// if any changed.
func machineNetfilterUnchanged(t *testing.T) {
	t.Helper()
	before := readMachineNetfilter(t)
	t.Cleanup(func() {
		if d := before.diff(readMachineNetfilter(t)); len(d) > 0 {
			t.Errorf("the machine's own netfilter or host-wide values changed during the test:\n%s", strings.Join(d, "\n"))
			return
		}
		var facts []string
		for cmd, r := range before.rulesets {
			facts = append(facts, fmt.Sprintf("%s %d lines", cmd, lines(r)))
		}
		for f, v := range before.values {
			facts = append(facts, fmt.Sprintf("%s=%s", filepath.Base(f), v))
		}
		sort.Strings(facts)
		t.Logf("the machine's netfilter and host-wide values are as before: %s", strings.Join(facts, ", "))
	})
}

package routing

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
)

// natTable is one attachment's nftables table. It lives in its own table so
// that DEL removes exactly it, and concurrent ADDs and DELs never edit the
// same object.
type natTable struct {
	Name    string
	Comment string
	InIface string   // host link the pod's traffic arrives on
	PodIPs  []net.IP // sources to match
	HostIPs []net.IP // SNAT target per family
	Masq    bool
}

// natPriority is srcnat, written as a number for older nft releases.
const natPriority = 100

// script renders an idempotent transaction: a repeated ADD flushes and
// rewrites the same table.
//
// The "ct status dnat" rule is what makes Services work: a backend on the
// underlay would otherwise answer the pod directly, bypassing the host's
// conntrack, and the pod would drop a reply from an address it never called.
func (t natTable) script() string {
	var b strings.Builder
	fmt.Fprintf(&b, "add table inet %s { comment %q; }\n", t.Name, t.Comment)
	fmt.Fprintf(&b, "flush table inet %s\n", t.Name)
	fmt.Fprintf(&b, "add chain inet %s postrouting { type nat hook postrouting priority %d; policy accept; }\n", t.Name, natPriority)
	for _, pod := range t.PodIPs {
		family := "ip"
		if !isV4(pod) {
			family = "ip6"
		}
		match := fmt.Sprintf("iifname %q %s saddr %s", t.InIface, family, pod)
		if host := firstOfFamily(t.HostIPs, isV4(pod)); host != nil {
			fmt.Fprintf(&b, "add rule inet %s postrouting %s ct status dnat snat %s to %s\n", t.Name, match, family, host)
		}
		if t.Masq {
			fmt.Fprintf(&b, "add rule inet %s postrouting %s masquerade\n", t.Name, match)
		}
	}
	return b.String()
}

// deleteScript removes the table whether or not it exists: the add makes the
// delete safe, in one atomic transaction.
// tableComment identifies the attachment for an operator reading `nft list
// ruleset`. The IDs come from the runtime, so only characters that need no
// quoting survive.
func tableComment(containerID, ifName string) string {
	keep := func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}
	c := "host-route " + strings.Map(keep, containerID) + " " + strings.Map(keep, ifName)
	if len(c) > 100 {
		c = c[:100]
	}
	return c
}

func deleteTableScript(name string) string {
	return fmt.Sprintf("add table inet %s\ndelete table inet %s\n", name, name)
}

// nftPath finds nft even when the runtime passes a minimal PATH.
func nftPath() (string, error) {
	if p, err := exec.LookPath("nft"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("nft not found in PATH or /usr/sbin, /sbin, /usr/bin: host-route needs the nftables CLI")
}

// runNft runs nft in the caller's network namespace (the OS thread's, which
// the child inherits).
func runNft(ctx context.Context, stdin string, args ...string) error {
	path, err := nftPath()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nft %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func applyNatTable(ctx context.Context, t natTable) error {
	if err := runNft(ctx, t.script(), "-f", "-"); err != nil {
		return fmt.Errorf("install nftables table %s: %w", t.Name, err)
	}
	return nil
}

func deleteNatTable(ctx context.Context, name string) error {
	if err := runNft(ctx, deleteTableScript(name), "-f", "-"); err != nil {
		return fmt.Errorf("delete nftables table %s: %w", name, err)
	}
	return nil
}

func natTableExists(ctx context.Context, name string) error {
	if err := runNft(ctx, "", "list", "table", "inet", name); err != nil {
		return fmt.Errorf("nftables table inet %s: %w", name, err)
	}
	return nil
}

func firstOfFamily(ips []net.IP, v4 bool) net.IP {
	for _, ip := range ips {
		if isV4(ip) == v4 {
			return ip
		}
	}
	return nil
}

package routing

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// setLinkSysctl writes a per-interface sysctl in the caller's network
// namespace. Per-interface keys vanish with the link, which is why
// host-route changes no host-wide sysctl.
func setLinkSysctl(family, link, key, value string) error {
	path := filepath.Join("/proc/sys/net", family, "conf", link, key)
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("set %s=%s: %w", path, value, err)
	}
	return nil
}

// forwardLink lets the host forward what arrives on link, both families.
// IPv4 decides by the input link's own forwarding flag. IPv6 needs the
// per-link force_forwarding of Linux 6.17+; on older kernels IPv6 Services
// from the pod need net.ipv6.conf.all.forwarding=1, which host-route leaves
// to the node's owner.
func forwardLink(link string, v6 bool) error {
	if err := setLinkSysctl("ipv4", link, "forwarding", "1"); err != nil {
		return err
	}
	if !v6 {
		return nil
	}
	err := setLinkSysctl("ipv6", link, "force_forwarding", "1")
	if errors.Is(err, fs.ErrNotExist) {
		slog.Warn("this kernel has no per-link IPv6 force_forwarding (Linux 6.17+): IPv6 Service traffic from the pod needs net.ipv6.conf.all.forwarding=1 on the node", "link", link)
		return nil
	}
	return err
}

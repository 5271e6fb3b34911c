package delegate

import (
	"errors"
	"fmt"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// Unplug removes the interface ifName from the netns at netnsPath, if it
// is there. A rollback whose delegate DEL failed (an IPAM that timed out
// under load) uses it so the pod is never left half-wired: the interface
// goes at once, and the record keeps what the delegate's DEL still owes
// (the address) for the runtime's DEL. A netns that is gone has nothing
// to remove.
func Unplug(netnsPath, ifName string) error {
	if netnsPath == "" {
		return nil
	}
	err := ns.WithNetNSPath(netnsPath, func(ns.NetNS) error {
		link, err := netlink.LinkByName(ifName)
		if errors.As(err, new(netlink.LinkNotFoundError)) {
			return nil
		}
		if err != nil {
			return err
		}
		return netlink.LinkDel(link)
	})
	if errors.As(err, new(ns.NSPathNotExistErr)) || errors.As(err, new(ns.NSPathNotNSErr)) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove interface %s from netns %s: %w", ifName, netnsPath, err)
	}
	return nil
}

package routing

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net"
)

// Names are derived, never stored: DEL and CHECK recompute them from the
// container ID and interface name, so no state file is needed and two
// attachments can never pick the same name.

// attachmentID hashes what identifies one attachment. CNI_IFNAME is part of
// it because one pod may chain host-route after two interfaces.
func attachmentID(containerID, ifName string) [sha256.Size]byte {
	return sha256.Sum256([]byte(containerID + "\x00" + ifName))
}

// HostVethName is the host end of the pod's veth: "hr" and 12 hex digits,
// 14 characters, inside the kernel's 15.
func HostVethName(containerID, ifName string) string {
	id := attachmentID(containerID, ifName)
	return "hr" + hex.EncodeToString(id[:6])
}

// tablePrefix starts every table host-route makes.
const tablePrefix = "meta_cni_hr_"

// TableName is the pod's own nftables table (family inet).
func TableName(containerID, ifName string) string {
	id := attachmentID(containerID, ifName)
	return tablePrefix + hex.EncodeToString(id[:6])
}

// vethMACs are fixed per attachment, so a repeated ADD reproduces the same
// neighbour entries and the same result.
func vethMACs(containerID, ifName string) (host, pod net.HardwareAddr) {
	id := attachmentID(containerID, ifName)
	host = net.HardwareAddr{0x02, id[6], id[7], id[8], id[9], id[10]}
	pod = net.HardwareAddr{0x0a, id[6], id[7], id[8], id[9], id[10]}
	return host, pod
}

// DefaultBridgeName names the shared sub-interface in macvlan-bridge mode:
// "<master>.host" as the "route" plugin's users wrote it, or a hash of the
// master when that is too long.
func DefaultBridgeName(master string) string {
	if name := master + ".host"; len(name) <= 15 {
		return name
	}
	sum := sha256.Sum256([]byte(master))
	return "hr-" + hex.EncodeToString(sum[:5])
}

// bridgeMAC is stable per (master, bridge), so a sub-interface recreated
// after the last pod left answers with the MAC pods may still cache.
func bridgeMAC(masterMAC net.HardwareAddr, bridge string) net.HardwareAddr {
	sum := sha256.Sum256(append(append([]byte{}, masterMAC...), bridge...))
	return net.HardwareAddr{0x02, sum[0], sum[1], sum[2], sum[3], sum[4]}
}

// attachmentMetric tags the attachment's host routes on the shared
// sub-interface, so DEL finds them without the prevResult (CNI before 0.4.0
// sends none) or the pod's netns. It is nonzero and fits a signed 32 bits.
func attachmentMetric(containerID, ifName string) int {
	id := attachmentID(containerID, ifName)
	return int(binary.BigEndian.Uint32(id[12:16])&0x7fffffff | 1)
}

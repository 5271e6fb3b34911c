package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
)

// Ping sends one ICMP echo request from inside netns to dst and waits for
// the matching reply. It needs no ping binary: it uses a raw socket, which
// the tests have as root.
func Ping(netns ns.NetNS, dst net.IP, timeout time.Duration) error {
	v4 := dst.To4() != nil
	network, reqType, replyType := "ip6:ipv6-icmp", byte(128), byte(129)
	if v4 {
		network, reqType, replyType = "ip4:icmp", 8, 0
	}
	var conn net.PacketConn
	if err := netns.Do(func(ns.NetNS) error {
		var err error
		conn, err = net.ListenPacket(network, "")
		return err
	}); err != nil {
		return fmt.Errorf("icmp socket: %w", err)
	}
	defer conn.Close()

	id, seq := uint16(rand.Uint32()), uint16(1)
	msg := []byte{reqType, 0, 0, 0, byte(id >> 8), byte(id), byte(seq >> 8), byte(seq), 'm', 'e', 't', 'a'}
	if v4 {
		// The kernel fills in the ICMPv6 checksum, not the ICMPv4 one.
		cs := icmpChecksum(msg)
		msg[2], msg[3] = byte(cs>>8), byte(cs)
	}
	if _, err := conn.WriteTo(msg, &net.IPAddr{IP: dst}); err != nil {
		return fmt.Errorf("ping %s: %w", dst, err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("ping %s: no reply: %w", dst, err)
		}
		src, _ := from.(*net.IPAddr)
		if n >= 8 && src != nil && src.IP.Equal(dst) && buf[0] == replyType &&
			uint16(buf[4])<<8|uint16(buf[5]) == id && uint16(buf[6])<<8|uint16(buf[7]) == seq {
			return nil
		}
	}
}

func icmpChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

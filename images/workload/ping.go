package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// PingResult is what /ping answers. Socket says which ICMP socket sent
// the echo: "raw" or "udp" (the unprivileged ping socket).
type PingResult struct {
	Addr   string  `json:"addr"`
	OK     bool    `json:"ok"`
	Socket string  `json:"socket,omitempty"`
	Millis float64 `json:"rttMs,omitempty"`
	Error  string  `json:"error,omitempty"`
}

func handlePing(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ip := net.ParseIP(q.Get("addr"))
	if ip == nil {
		http.Error(w, fmt.Sprintf("addr %q: want an IP address", q.Get("addr")), http.StatusBadRequest)
		return
	}
	timeout, err := parseTimeout(q.Get("timeout"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	writeJSON(w, ping(ctx, ip))
}

// ping sends one echo request and waits for its reply. It opens a raw
// ICMP socket first: containerd's default capabilities include
// CAP_NET_RAW, whereas the unprivileged ping socket needs the pod netns's
// net.ipv4.ping_group_range to cover our group, which containerd 1.x
// leaves at the kernel's "1 0" (nobody) unless enable_unprivileged_icmp is
// set. A pod that drops NET_RAW still gets the ping socket where allowed.
func ping(ctx context.Context, ip net.IP) PingResult {
	res := PingResult{Addr: ip.String()}
	conn, socket, err := listenICMP(ip)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer conn.Close()
	res.Socket = socket
	rtt, err := echo(ctx, conn, ip, socket == "udp")
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.OK, res.Millis = true, float64(rtt.Microseconds())/1000
	return res
}

func listenICMP(ip net.IP) (*icmp.PacketConn, string, error) {
	raw, udp := "ip4:icmp", "udp4"
	if ip.To4() == nil {
		raw, udp = "ip6:ipv6-icmp", "udp6"
	}
	conn, rawErr := icmp.ListenPacket(raw, "")
	if rawErr == nil {
		return conn, "raw", nil
	}
	conn, udpErr := icmp.ListenPacket(udp, "")
	if udpErr == nil {
		return conn, "udp", nil
	}
	return nil, "", fmt.Errorf("open an ICMP socket: raw: %w; unprivileged: %w", rawErr, udpErr)
}

func echo(ctx context.Context, conn *icmp.PacketConn, ip net.IP, udp bool) (time.Duration, error) {
	v4 := ip.To4() != nil
	var reqType, replyType icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	proto := 1 // ICMP, for icmp.ParseMessage
	if !v4 {
		reqType, replyType, proto = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply, 58
	}
	// With the ping socket the kernel picks the ID (the socket's port), so
	// replies are matched by sequence and payload alone.
	id, seq := os.Getpid()&0xffff, int(rand.Uint32()&0xffff)
	payload := []byte(fmt.Sprintf("meta-cni workload %d", rand.Uint64()))
	msg := icmp.Message{Type: reqType, Body: &icmp.Echo{ID: id, Seq: seq, Data: payload}}
	b, err := msg.Marshal(nil) // the kernel computes the ICMPv6 checksum
	if err != nil {
		return 0, fmt.Errorf("marshal echo to %s: %w", ip, err)
	}
	var dst net.Addr = &net.IPAddr{IP: ip}
	if udp {
		dst = &net.UDPAddr{IP: ip}
	}
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return 0, err
	}
	start := time.Now()
	if _, err := conn.WriteTo(b, dst); err != nil {
		return 0, fmt.Errorf("send echo to %s: %w", ip, err)
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return 0, fmt.Errorf("no echo reply from %s within %s", ip, deadline.Sub(start).Round(time.Millisecond))
			}
			return 0, fmt.Errorf("read echo reply from %s: %w", ip, err)
		}
		reply, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || reply.Type != replyType || !sameIP(from, ip) {
			continue
		}
		e, ok := reply.Body.(*icmp.Echo)
		if ok && e.Seq == seq && string(e.Data) == string(payload) && (udp || e.ID == id) {
			return time.Since(start), nil
		}
	}
}

func sameIP(a net.Addr, ip net.IP) bool {
	switch a := a.(type) {
	case *net.IPAddr:
		return a.IP.Equal(ip)
	case *net.UDPAddr:
		return a.IP.Equal(ip)
	}
	return false
}

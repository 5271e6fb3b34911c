package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
)

// EchoServer is a TCP server inside a network namespace that writes back
// whatever it reads. Its socket stays in the namespace it was made in, so
// it serves from a goroutine of the test process.
type EchoServer struct {
	Addr string // host:port it listens on
	ln   net.Listener
	wg   sync.WaitGroup

	mu      sync.Mutex
	clients []string
}

// Clients lists the source address of every connection accepted so far, in
// order: what the server saw after any NAT on the way.
func (s *EchoServer) Clients() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.clients...)
}

// StartEcho listens on addr ("10.0.0.1:7007", "[fd00::1]:7007") inside
// netns until the test ends.
func StartEcho(t testing.TB, netns ns.NetNS, addr string) *EchoServer {
	t.Helper()
	s := &EchoServer{Addr: addr}
	err := netns.Do(func(ns.NetNS) error {
		var err error
		s.ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("echo server on %s: %v", addr, err)
	}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() { _ = s.ln.Close(); s.wg.Wait() })
	return s
}

func (s *EchoServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		if tcp, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			s.mu.Lock()
			s.clients = append(s.clients, tcp.IP.String())
			s.mu.Unlock()
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.Copy(c, c)
		}()
	}
}

// Echo dials addr from inside netns, sends a line and expects it back
// within timeout: proof that the path and its return path both work.
func Echo(netns ns.NetNS, addr string, timeout time.Duration) error {
	var conn net.Conn
	err := netns.Do(func(ns.NetNS) error {
		var err error
		conn, err = net.DialTimeout("tcp", addr, timeout)
		return err
	})
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	msg := []byte("meta-cni echo " + addr + "\n")
	if _, err := conn.Write(msg); err != nil {
		return fmt.Errorf("write to %s: %w", addr, err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil {
		return fmt.Errorf("read echo from %s: %w", addr, err)
	}
	if !bytes.Equal(got, msg) {
		return errors.New("echo from " + addr + " differs from what was sent")
	}
	return nil
}

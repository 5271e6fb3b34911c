package testenv

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// Forward is a TCP relay from a loopback address inside a network
// namespace to the same address in the test's own namespace. A socket stays
// in the namespace it was created in, so the listener is made inside netns
// while the dials happen outside: plugins running in a "node" namespace
// then reach the etcd and kube-apiserver the test started on loopback,
// without any change to the machine's own network.
type Forward struct {
	l    net.Listener
	wg   sync.WaitGroup
	once sync.Once
}

// ForwardIntoNS starts relaying addr (host:port) from inside netns.
func ForwardIntoNS(netns ns.NetNS, addr string) (*Forward, error) {
	return ForwardIntoNSTo(netns, addr, addr)
}

// ForwardIntoNSTo relays listen (host:port, an address netns already has)
// from inside netns to target in the test's own namespace: a node's
// ClusterIP of the API server to the API server on loopback, say.
func ForwardIntoNSTo(netns ns.NetNS, listen, target string) (*Forward, error) {
	f := &Forward{}
	err := netns.Do(func(ns.NetNS) error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			return err
		}
		f.l, err = net.Listen("tcp", listen)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s inside netns %s: %w", listen, netns.Path(), err)
	}
	f.wg.Add(1)
	go f.serve(target)
	return f, nil
}

// ForwardIntoNST is ForwardIntoNS for tests, closed at cleanup.
func ForwardIntoNST(t testing.TB, netns ns.NetNS, addr string) {
	t.Helper()
	f, err := ForwardIntoNS(netns, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
}

func (f *Forward) serve(addr string) {
	defer f.wg.Done()
	for {
		in, err := f.l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer in.Close()
			out, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			defer out.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(out, in); closeWrite(out); done <- struct{}{} }()
			go func() { _, _ = io.Copy(in, out); closeWrite(in); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// Close stops accepting; relayed connections end with their peers.
func (f *Forward) Close() {
	f.once.Do(func() { f.l.Close() })
	f.wg.Wait()
}

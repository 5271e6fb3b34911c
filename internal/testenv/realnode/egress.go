package realnode

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
)

// egressProxy is the API server's way to the kubelets (logs, exec,
// port-forward) and pods: the API server runs on the machine's loopback
// and cannot route to the fabric, so, as with Konnectivity on a cluster
// whose control plane is apart from its nodes, its "cluster" egress goes
// through an HTTP CONNECT proxy. This one listens on a unix socket and
// dials from inside the fabric netns, which reaches every node's address.
type egressProxy struct {
	socket string
	fabric string // the fabric netns's path
	srv    *http.Server

	mu      sync.Mutex
	tunnels map[net.Conn]bool
}

// startEgressProxy serves on socket; the fabric netns (its path) may come
// later: it is opened per CONNECT.
func startEgressProxy(socket, fabricNS string) (*egressProxy, error) {
	_ = os.Remove(socket)
	l, err := net.Listen("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("listen for the API server's egress on %s: %w", socket, err)
	}
	p := &egressProxy{socket: socket, fabric: fabricNS, tunnels: map[net.Conn]bool{}}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.connect), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(l) }()
	return p, nil
}

// egressConfig is the EgressSelectorConfiguration that sends the API
// server's "cluster" traffic through the proxy on socket.
func egressConfig(socket string) string {
	return fmt.Sprintf(`apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
- name: cluster
  connection:
    proxyProtocol: HTTPConnect
    transport:
      uds:
        udsName: %s
`, socket)
}

func (p *egressProxy) connect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "only CONNECT", http.StatusMethodNotAllowed)
		return
	}
	up, err := p.dial(r.Context(), r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "no hijacking", http.StatusInternalServerError)
		return
	}
	down, rw, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	// The client speaks only after the 200 (it starts TLS), so nothing
	// read ahead is lost; anything buffered still goes first.
	if _, err := io.WriteString(down, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		up.Close()
		down.Close()
		return
	}
	p.track(up, down)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, rw.Reader); closeWrite(up); done <- struct{}{} }()
	go func() { _, _ = io.Copy(down, up); closeWrite(down); done <- struct{}{} }()
	<-done
	<-done
	p.untrack(up, down)
}

// dial connects to addr from inside the fabric netns.
func (p *egressProxy) dial(ctx context.Context, addr string) (net.Conn, error) {
	netns, err := ns.GetNS(p.fabric)
	if err != nil {
		return nil, fmt.Errorf("egress to %s: open fabric netns: %w", addr, err)
	}
	defer netns.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := dialIn(netns)(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("egress to %s from netns %s: %w", addr, p.fabric, err)
	}
	return c, nil
}

func (p *egressProxy) track(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		p.tunnels[c] = true
	}
}

func (p *egressProxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		c.Close()
		delete(p.tunnels, c)
	}
}

// Close stops the proxy and cuts the tunnels still open (a kubectl exec
// left running, say).
func (p *egressProxy) Close() {
	if p == nil {
		return
	}
	_ = p.srv.Close()
	p.mu.Lock()
	for c := range p.tunnels {
		c.Close()
	}
	p.mu.Unlock()
	_ = os.Remove(p.socket)
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

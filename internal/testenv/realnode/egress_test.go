package realnode

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/vishvananda/netlink"
)

// TestEgressProxyTunnelsIntoTheFabric: the API server's CONNECT, as its
// egress selector sends it, reaches a server that listens only inside the
// fabric netns (here on that netns's own loopback, which nothing outside
// can reach), and bytes flow both ways; a target nobody serves is a 502,
// and anything but CONNECT is refused.
func TestEgressProxyTunnelsIntoTheFabric(t *testing.T) {
	testenv.RequireRoot(t)
	fabric := testenv.NewNS(t)
	if err := fabric.Do(func(ns.NetNS) error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	}); err != nil {
		t.Fatal(err)
	}
	echo := testenv.StartEcho(t, fabric, "127.0.0.1:7007")
	p, err := startEgressProxy(filepath.Join(t.TempDir(), "egress.sock"), fabric.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)

	conn, resp := connectVia(t, p.socket, echo.Addr)
	defer conn.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("CONNECT %s: %s (%s), want 200", echo.Addr, resp.Status, b)
	}
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "through the fabric\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "through the fabric\n" {
		t.Fatalf("echo through the tunnel: %q, %v", line, err)
	}

	closed, resp := connectVia(t, p.socket, "127.0.0.1:7008")
	closed.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("CONNECT to a port nobody serves: %s, want 502", resp.Status)
	}

	raw, err := net.Dial("unix", p.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_, _ = io.WriteString(raw, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(raw), nil); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET through the egress proxy: %v %v, want 405", resp, err)
	}
}

// connectVia sends the CONNECT the API server's egress selector sends
// (k8s.io/apiserver tunnelHTTPConnect) and reads the answer.
func connectVia(t *testing.T, socket, addr string) (net.Conn, *http.Response) {
	t.Helper()
	conn, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(conn, "CONNECT "+addr+" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("CONNECT %s: %v", addr, err)
	}
	if n := br.Buffered(); n > 0 && resp.StatusCode == http.StatusOK {
		t.Fatalf("CONNECT %s: %d bytes after the 200, before the client spoke", addr, n)
	}
	return conn, resp
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// pair is two pod netns joined by a veth: 10.250.7.1/24 in a, .2 in b.
func pair(t *testing.T) (a, b ns.NetNS) {
	t.Helper()
	a, b = testenv.NewPodNS(t), testenv.NewPodNS(t)
	err := a.Do(func(ns.NetNS) error {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(b.Fd()))}
		if err := netlink.LinkAdd(veth); err != nil {
			return err
		}
		return netlink.LinkSetUp(veth)
	})
	if err != nil {
		t.Fatalf("veth between pod namespaces: %v", err)
	}
	if err := b.Do(func(ns.NetNS) error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(l)
	}); err != nil {
		t.Fatal(err)
	}
	testenv.AddAddr(t, a, "eth0", "10.250.7.1/24")
	testenv.AddAddr(t, b, "eth0", "10.250.7.2/24")
	return a, b
}

// startWorkload runs the built workload as a process inside netns, as a
// runtime runs it in a pod, with uid (0 for root) and no environment but
// LISTEN_ADDRESS.
func startWorkload(t *testing.T, netns ns.NetNS, bin string, uid uint32) *http.Client {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = []string{"LISTEN_ADDRESS=127.0.0.1:8080"}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	if err := netns.Do(func(ns.NetNS) error { return cmd.Start() }); err != nil {
		t.Fatalf("start workload: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// SIGTERM must end it promptly: a pod's deletion waits on it.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("workload exited with %v after SIGTERM", err)
			}
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("workload ignored SIGTERM for 5s")
		}
	})
	// The client's sockets are made inside netns, where the workload listens.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = netns.Do(func(ns.NetNS) error {
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		}}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get("http://127.0.0.1:8080/")
		if err == nil {
			resp.Body.Close()
			return client
		}
		select {
		case err := <-exited:
			t.Fatalf("workload exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("workload not serving after 10s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func getJSON(t *testing.T, c *http.Client, path string, into any) {
	t.Helper()
	resp, err := c.Get("http://127.0.0.1:8080" + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

func buildWorkload(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "workload-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Readable by the unprivileged run below.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "workload")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// The workload in a pod netns reports that netns's interfaces, dials an
// HTTP server and pings an address in another netns, and reports an
// unreachable peer as a failed result.
func TestWorkloadInANetnsDialsAndPingsAnother(t *testing.T) {
	testenv.RequireRoot(t)
	bin := buildWorkload(t)
	a, b := pair(t)
	var ln net.Listener
	if err := b.Do(func(ns.NetNS) (err error) { ln, err = net.Listen("tcp", "10.250.7.2:8081"); return err }); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "b saw %s", r.RemoteAddr)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	c := startWorkload(t, a, bin, 0)
	var id Identity
	getJSON(t, c, "/", &id)
	i := slices.IndexFunc(id.Interfaces, func(it Interface) bool { return it.Name == "eth0" })
	if i < 0 || !slices.Contains(id.Interfaces[i].Addrs, "10.250.7.1/24") || !id.Interfaces[i].Up {
		t.Fatalf("interfaces %+v lack eth0 up with 10.250.7.1/24", id.Interfaces)
	}

	var dial DialResult
	getJSON(t, c, "/dial?addr=10.250.7.2:8081", &dial)
	if !dial.OK || dial.Status != 200 || dial.Body != "b saw "+dial.Local {
		t.Fatalf("dial = %+v, want b's answer naming the workload's source address", dial)
	}
	if host, _, _ := net.SplitHostPort(dial.Local); host != "10.250.7.1" {
		t.Fatalf("dial from %s, want 10.250.7.1", dial.Local)
	}

	for _, addr := range []string{"10.250.7.2", "127.0.0.1", "10.250.7.1"} {
		var p PingResult
		getJSON(t, c, "/ping?addr="+addr, &p)
		if !p.OK || p.Socket != "raw" || p.Error != "" {
			t.Fatalf("ping %s = %+v, want a reply on the raw socket a root pod has", addr, p)
		}
	}

	// Nobody answers ARP for .3: both fail, within their timeouts.
	var p PingResult
	getJSON(t, c, "/ping?timeout=300ms&addr=10.250.7.3", &p)
	if p.OK || p.Error == "" {
		t.Fatalf("ping of an absent address = %+v", p)
	}
	getJSON(t, c, "/dial?timeout=300ms&proto=tcp&addr=10.250.7.3:80", &dial)
	if dial.OK || dial.Error == "" {
		t.Fatalf("dial of an absent address = %+v", dial)
	}
}

// Without CAP_NET_RAW (a pod that drops it, or runs as non-root) the
// workload falls back to the unprivileged ping socket, which works only
// where the netns's ping_group_range admits its group.
func TestWorkloadWithoutNetRawUsesThePingSocket(t *testing.T) {
	testenv.RequireRoot(t)
	bin := buildWorkload(t)
	a, _ := pair(t)
	const nobody = 65534
	c := startWorkload(t, a, bin, nobody)

	testenv.SetSysctl(t, a, "net/ipv4/ping_group_range", "1 0")
	var p PingResult
	getJSON(t, c, "/ping?addr=10.250.7.2", &p)
	if p.OK || p.Socket != "" {
		t.Fatalf("ping with no raw socket and no ping group = %+v, want an error", p)
	}

	testenv.SetSysctl(t, a, "net/ipv4/ping_group_range", fmt.Sprintf("%d %d", nobody, nobody))
	getJSON(t, c, "/ping?addr=10.250.7.2", &p)
	if !p.OK || p.Socket != "udp" {
		t.Fatalf("ping with the ping group = %+v, want a reply on the udp ping socket", p)
	}
}

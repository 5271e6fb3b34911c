package kube

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// socketDir is short enough for a unix socket path, unlike some t.TempDir()s.
func socketDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "kd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestDaemonClientSendsPlainRequestsOverTheSocket(t *testing.T) {
	socket := filepath.Join(socketDir(t), "api.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	var got *http.Request
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		_ = json.NewEncoder(w).Encode(pod("1"))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	p, err := NewDaemon(socket, 2*time.Second).GetPod(context.Background(), "ns", "p", "uid-1")
	if err != nil {
		t.Fatal(err)
	}
	if string(p.UID) != "uid-1" {
		t.Fatalf("pod UID %q", p.UID)
	}
	if got.URL.Path != "/api/v1/namespaces/ns/pods/p" || got.URL.Query().Get("resourceVersion") != "0" {
		t.Errorf("request %s", got.URL)
	}
	if got.Header.Get("Authorization") != "" {
		t.Errorf("the plugin sent credentials to the daemon: %q", got.Header.Get("Authorization"))
	}
}

func TestDaemonClientReportsANoDaemonAsUnavailable(t *testing.T) {
	dir := socketDir(t)
	// A socket file nobody listens on, as a crashed daemon leaves it.
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	for name, socket := range map[string]string{"missing": filepath.Join(dir, "none.sock"), "stale": stale} {
		t.Run(name, func(t *testing.T) {
			_, err := NewDaemon(socket, time.Second).GetPod(context.Background(), "ns", "p", "")
			if !IsDaemonUnavailable(err) {
				t.Fatalf("error %v: want daemon unavailable", err)
			}
			if !IsUnreachable(err) {
				t.Fatalf("error %v: want it unreachable too", err)
			}
		})
	}
}

func TestAnAnswerFromTheDaemonIsNotDaemonUnavailable(t *testing.T) {
	socket := filepath.Join(socketDir(t), "api.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: &fakeAPI{status: http.StatusServiceUnavailable}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, err = NewDaemon(socket, time.Second).GetPod(context.Background(), "ns", "p", "")
	if err == nil || IsDaemonUnavailable(err) {
		t.Fatalf("error %v: the daemon answered, so it must not count as unavailable", err)
	}
}

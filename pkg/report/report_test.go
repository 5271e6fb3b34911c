package report

import (
	"encoding/json"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func socketPath(t testing.TB) string {
	t.Helper()
	// A socket path must fit in 108 bytes, which a test's temp dir may not.
	dir, err := os.MkdirTemp("", "report-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s.sock")
}

// The daemon reads the report from the socket after the sender has gone.
func TestSendDeliversTheRunWithoutWaitingForTheAnswer(t *testing.T) {
	path := socketPath(t)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	want := Run{Verb: "ADD", Seconds: 0.0125, Code: 7}
	if err := Send(path, want, time.Second); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := make(chan Run, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var run Run
		if r.Method != http.MethodPost || r.URL.Path != Path || json.NewDecoder(r.Body).Decode(&run) != nil {
			t.Errorf("got %s %s", r.Method, r.URL.Path)
		}
		got <- run
	})}
	go srv.Serve(ln)
	defer srv.Close()
	select {
	case run := <-got:
		if run != want {
			t.Errorf("daemon read %+v, want %+v", run, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the report never reached the server")
	}
}

func TestSendWithNoDaemonFailsAtOnce(t *testing.T) {
	start := time.Now()
	if err := Send(socketPath(t), Run{Verb: "DEL"}, time.Second); err == nil {
		t.Fatal("Send to a socket nobody made succeeded")
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Send took %s with no socket", d)
	}
}

// A daemon that is wedged stops accepting: once its listen backlog is full,
// a connect cannot complete, and Send must give up within its budget.
func TestSendToAWedgedDaemonReturnsWithinTheBudget(t *testing.T) {
	path := socketPath(t)
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil { // never accepted
		t.Fatal(err)
	}
	budget := 20 * time.Millisecond
	failed := 0
	for i := 0; i < 50; i++ {
		start := time.Now()
		if Send(path, Run{Verb: "ADD", Seconds: 1}, budget) != nil {
			failed++
		}
		if d := time.Since(start); d > budget+50*time.Millisecond {
			t.Fatalf("send %d took %s, budget %s", i, d, budget)
		}
	}
	if failed == 0 {
		t.Fatal("every send to a daemon that never accepts succeeded; the backlog never filled")
	}
}

func TestValidateRefusesWhatNoPluginSends(t *testing.T) {
	for _, tc := range []struct {
		run  Run
		want string
	}{
		{Run{Verb: "ADD", Seconds: 0.01}, ""},
		{Run{Verb: "STATUS", Seconds: 0, Code: 50}, ""},
		{Run{Verb: "VERSION"}, "verb"},
		{Run{Verb: "add"}, "verb"},
		{Run{Verb: "ADD", Seconds: -1}, "seconds"},
		{Run{Verb: "ADD", Seconds: math.NaN()}, "seconds"},
		{Run{Verb: "ADD", Seconds: 1e9}, "seconds"},
		{Run{Verb: "DEL", Code: 1000}, "code"},
	} {
		err := tc.run.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.HasPrefix(err.Error(), tc.want)) {
			t.Errorf("Validate(%+v) = %v, want error starting %q", tc.run, err, tc.want)
		}
	}
}

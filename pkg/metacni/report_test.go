package metacni

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/meta-cni/meta-cni/pkg/report"
)

// A NetConf refused as invalid still names the daemon's socket, so the
// refusal shows up in the daemon's error series; without a socket nothing
// is sent.
func TestRunRefusedForAnInvalidNetConfIsStillReported(t *testing.T) {
	dir, err := os.MkdirTemp("", "mcni-report-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan report.Run, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var run report.Run
		_ = json.NewDecoder(r.Body).Decode(&run)
		got <- run
	})}
	go srv.Serve(ln)
	defer srv.Close()

	p := &Plugin{}
	stdin := `{"cniVersion":"1.0.0","name":"meta-cni","type":"meta-cni","daemonSocket":"` + sock + `","apiTimeout":"never"}`
	addErr := p.Add(&skel.CmdArgs{ContainerID: "c1", IfName: "eth0", StdinData: []byte(stdin)})
	var e *types.Error
	if !errors.As(addErr, &e) || e.Code != types.ErrInvalidNetworkConfig {
		t.Fatalf("ADD = %v, want code 7", addErr)
	}
	p.Report("ADD", 12*time.Millisecond, e)
	select {
	case run := <-got:
		if run.Verb != "ADD" || run.Code != types.ErrInvalidNetworkConfig || run.Seconds != 0.012 {
			t.Errorf("reported %+v, want ADD, code 7, 0.012s", run)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the refused run was not reported")
	}

	q := &Plugin{}
	_ = q.Add(&skel.CmdArgs{ContainerID: "c2", IfName: "eth0", StdinData: []byte(`{"cniVersion":"1.0.0","name":"x","type":"meta-cni","apiTimeout":"never"}`)})
	if q.reportTo != "" {
		t.Errorf("a NetConf without daemonSocket reports to %q", q.reportTo)
	}
}

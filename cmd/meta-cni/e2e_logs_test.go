package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// TestLogsGoToTheRotatedLogFileAndNeverToStdout adds and deletes a pod with
// meta-cni's log file one line short of maxSize: the first line rotates it
// into a compressed backup and the new file holds ADD's and DEL's lines.
// libcni parses ADD's stdout as the result, and a DEL run by hand prints
// nothing at all.
func TestLogsGoToTheRotatedLogFileAndNeverToStdout(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	logFile := filepath.Join(f.node.Dir, "log", "meta-cni.log")
	testenv.FillLogFile(t, logFile, 1)
	f.metaExtra = map[string]any{"logFile": logFile, "logLevel": "debug",
		"logOptions": map[string]any{"maxSize": 1, "maxBackups": 3, "maxAge": 7, "compress": true}}
	list := f.metaConfList("1.0.0")
	sb := f.newPod("logs", map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a"})
	if _, err := f.node.Add(ctx, list, sb.rt); err != nil {
		t.Fatalf("ADD: %v", err)
	}

	var plugin map[string]any
	if err := json.Unmarshal(list.Plugins[0].Bytes, &plugin); err != nil {
		t.Fatal(err)
	}
	plugin["cniVersion"], plugin["name"] = list.CNIVersion, list.Name
	stdin, _ := json.Marshal(plugin)
	var out []byte
	err := f.node.NS.Do(func(ns.NetNS) error {
		var err error
		out, err = testenv.ExecPlugin(ctx, filepath.Join(f.node.CNIPath, "meta-cni"), testenv.PluginEnv{
			Command: "DEL", ContainerID: sb.rt.ContainerID, NetNS: sb.rt.NetNS, IfName: sb.rt.IfName,
			Args: "K8S_POD_NAMESPACE=" + f.namespace + ";K8S_POD_NAME=logs", Path: f.node.CNIPath,
		}, stdin)
		return err
	})
	if err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if len(out) != 0 {
		t.Fatalf("DEL printed %q on stdout, which carries only a result or an error", out)
	}
	f.assertClean(sb)

	backups := testenv.LogBackups(t, logFile)
	if len(backups) != 1 || !strings.HasSuffix(backups[0], ".log.gz") {
		t.Fatalf("backups %v, want one compressed backup", backups)
	}
	if old := testenv.ReadLog(t, backups[0]); !strings.HasPrefix(old, testenv.PrefillLine) || strings.Contains(old, "plugin=meta-cni") {
		t.Errorf("the backup is not the file as it was before ADD: %.200q", old)
	}
	live := testenv.ReadLog(t, logFile)
	who := "plugin=meta-cni containerID=" + sb.rt.ContainerID + " pod=" + f.namespace + "/logs"
	for _, want := range []string{`msg="ADD timings" ` + who, "msg=deleted " + who} {
		if !strings.Contains(live, want) {
			t.Errorf("log file lacks %q:\n%s", want, live)
		}
	}
	for _, p := range append(backups, logFile) {
		if m := testenv.Mode(t, p); m != 0o600 {
			t.Errorf("%s: mode %o, want 0600", p, m)
		}
	}
}

func TestBadLogOptionsAreCode7NamingTheFieldAndAttachNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for i, tc := range []struct {
		name  string
		extra map[string]any
		field string
	}{
		{"negative maxBackups", map[string]any{"logOptions": map[string]any{"maxBackups": -1}}, `"logOptions.maxBackups"`},
		{"maxSize as a string", map[string]any{"logOptions": map[string]any{"maxSize": "50M"}}, `"logOptions.maxSize"`},
		{"logToStderr as a string", map[string]any{"logToStderr": "yes"}, `"logToStderr"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.metaExtra = tc.extra
			sb := f.newPod(fmt.Sprintf("bad-log-%d", i), map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a"})
			_, err := f.node.Add(ctx, f.metaConfList("1.0.0"), sb.rt)
			if err == nil {
				t.Fatal("ADD succeeded")
			}
			if e := cniErr(t, err); e.Code != types.ErrInvalidNetworkConfig || !strings.Contains(e.Msg, tc.field) {
				t.Fatalf("ADD: code %d %q, want 7 naming %s", e.Code, e.Msg, tc.field)
			}
			f.assertClean(sb)
		})
	}
}

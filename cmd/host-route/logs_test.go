package main

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// TestLogsGoToTheRotatedLogFileAndNeverToStdout chains host-route after a
// real macvlan pod with a log file one line short of maxSize: ADD's line
// rotates it into a plain backup (compress false), the new file holds
// ADD's and DEL's lines, and stdout is the CNI result alone.
func TestLogsGoToTheRotatedLogFileAndNeverToStdout(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	pod, res := addPod(t, n, conflist(t, n, "1.1.0", nil), "logs")
	prev, err := res.GetAsVersion("1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(t.TempDir(), "host-route.log")
	testenv.FillLogFile(t, logFile, 1)
	conf := hostRouteConf("veth", map[string]any{
		"logFile":    logFile,
		"logOptions": map[string]any{"maxSize": 1, "maxBackups": 1, "compress": false},
	})

	out, err := execHostRoute(n, "ADD", pod, hostRouteStdin(t, "1.1.0", conf, prev))
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	var result map[string]any
	if err := json.Unmarshal(out, &result); err != nil || result["cniVersion"] != "1.1.0" {
		t.Fatalf("stdout is not the CNI result alone: %v\n%s", err, out)
	}
	if _, err := execHostRoute(n, "DEL", pod, hostRouteStdin(t, "1.1.0", conf, prev)); err != nil {
		t.Fatalf("DEL: %v", err)
	}

	backups := testenv.LogBackups(t, logFile)
	if len(backups) != 1 || !strings.HasSuffix(backups[0], ".log") {
		t.Fatalf("backups %v, want one plain backup", backups)
	}
	if old := testenv.ReadLog(t, backups[0]); !strings.HasPrefix(old, testenv.PrefillLine) || strings.Contains(old, "plugin=host-route") {
		t.Errorf("the backup is not the file as it was before ADD: %.200q", old)
	}
	live := testenv.ReadLog(t, logFile)
	for _, want := range []string{"msg=ADD plugin=host-route containerID=" + pod.ContainerID, "msg=DEL plugin=host-route containerID=" + pod.ContainerID} {
		if !strings.Contains(live, want) {
			t.Errorf("log file lacks %q:\n%s", want, live)
		}
	}
	for _, f := range append(backups, logFile) {
		if m := testenv.Mode(t, f); m != 0o600 {
			t.Errorf("%s: mode %o, want 0600", f, m)
		}
	}
}

func TestBadLogOptionsAreCode7NamingTheFieldAndChangeNothing(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	pod, res := addPod(t, n, conflist(t, n, "1.1.0", nil), "bad-log")
	prev, err := res.GetAsVersion("1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		extra map[string]any
		field string
	}{
		{"negative maxSize", map[string]any{"logOptions": map[string]any{"maxSize": -1}}, "logOptions.maxSize"},
		{"negative maxAge", map[string]any{"logOptions": map[string]any{"maxAge": -1}}, "logOptions.maxAge"},
		{"compress as a string", map[string]any{"logOptions": map[string]any{"compress": "yes"}}, "logOptions.compress"},
		{"logToStderr as a string", map[string]any{"logToStderr": "true"}, "logToStderr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, beforePod := snapshot(t, n.NS), snapshot(t, pod.NS)
			tc.extra["logFile"] = filepath.Join(t.TempDir(), "host-route.log")
			_, err := execHostRoute(n, "ADD", pod, hostRouteStdin(t, "1.1.0", hostRouteConf("veth", tc.extra), prev))
			var perr *testenv.PluginError
			if !errors.As(err, &perr) || perr.CNI == nil || perr.CNI.Code != types.ErrInvalidNetworkConfig || !strings.Contains(perr.CNI.Msg, tc.field) {
				t.Fatalf("ADD = %v, want code 7 naming %s", err, tc.field)
			}
			if d := before.Diff(snapshot(t, n.NS)); d != "" {
				t.Errorf("the refused ADD changed the node:\n%s", d)
			}
			if d := beforePod.Diff(snapshot(t, pod.NS)); d != "" {
				t.Errorf("the refused ADD changed the pod:\n%s", d)
			}
		})
	}
}

package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// TestLogsGoToTheRotatedLogFileAndNeverToStdout runs ADD and DEL with a log
// file that is one line short of maxSize: the first line rotates it into a
// compressed backup, the new file holds the plugin's lines, and stdout is
// the CNI result alone.
func TestLogsGoToTheRotatedLogFileAndNeverToStdout(t *testing.T) {
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	logFile := filepath.Join(t.TempDir(), "log", "etcd-ipam.log")
	testenv.FillLogFile(t, logFile, 1)
	conf := r.conf("1.1.0", map[string]any{
		"subnet": "10.10.20.0/24", "logFile": logFile, "logLevel": "debug",
		"logOptions": map[string]any{"maxSize": 1, "maxBackups": 2, "maxAge": 7, "compress": true},
	})

	out := r.mustExec("ADD", "ctr-logs", "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=logs", conf)
	if got := ips(t, "1.1.0", out); len(got) != 1 {
		t.Fatalf("ADD returned %v", got)
	}
	if strings.Contains(string(out), "level=") || strings.Contains(string(out), "allocated") {
		t.Fatalf("a log line reached stdout: %s", out)
	}
	r.mustExec("DEL", "ctr-logs", "", conf)

	backups := testenv.LogBackups(t, logFile)
	if len(backups) != 1 || !strings.HasSuffix(backups[0], ".log.gz") {
		t.Fatalf("backups %v, want one compressed backup", backups)
	}
	if old := testenv.ReadLog(t, backups[0]); !strings.HasPrefix(old, testenv.PrefillLine) || strings.Contains(old, "plugin=etcd-ipam") {
		t.Errorf("the backup is not the file as it was before ADD: %.200q", old)
	}
	live := testenv.ReadLog(t, logFile)
	for _, want := range []string{"msg=allocated plugin=etcd-ipam containerID=ctr-logs", "msg=released plugin=etcd-ipam containerID=ctr-logs"} {
		if !strings.Contains(live, want) {
			t.Errorf("log file lacks %q:\n%s", want, live)
		}
	}
	if strings.Contains(live, "prefill") {
		t.Errorf("the rotated lines are still in the log file")
	}
	for _, f := range append(backups, logFile) {
		if m := testenv.Mode(t, f); m != 0o600 {
			t.Errorf("%s: mode %o, want 0600", f, m)
		}
	}
}

func TestBadLogOptionsAreCode7NamingTheFieldAndAllocateNothing(t *testing.T) {
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	for _, tc := range []struct {
		name  string
		ipam  map[string]any
		field string
	}{
		{"negative maxSize", map[string]any{"logOptions": map[string]any{"maxSize": -1}}, "ipam.logOptions.maxSize"},
		{"negative maxBackups", map[string]any{"logOptions": map[string]any{"maxBackups": -1}}, "ipam.logOptions.maxBackups"},
		{"maxAge as a string", map[string]any{"logOptions": map[string]any{"maxAge": "7d"}}, "ipam.logOptions.maxAge"},
		{"unknown logLevel", map[string]any{"logLevel": "trace"}, "ipam.logLevel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.ipam["subnet"] = "10.10.20.0/24"
			tc.ipam["logFile"] = filepath.Join(t.TempDir(), "etcd-ipam.log")
			_, err := r.exec("ADD", "ctr-bad-log", "", r.conf("1.1.0", tc.ipam))
			if code, msg := cniCode(t, err); code != 7 || !strings.Contains(msg, tc.field) {
				t.Fatalf("ADD: code %d %q, want 7 naming %s", code, msg, tc.field)
			}
			if keys := r.allocationKeys(); len(keys) != 0 {
				t.Fatalf("a refused config allocated %v", keys)
			}
		})
	}
}

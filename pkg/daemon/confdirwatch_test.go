package daemon

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"
)

func TestConfDirWatchSignalsConfChangesButNotTheDaemonsOwnWrites(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net.d") // created by the watch
	w, err := watchConfDir(dir, "00-meta-cni.conflist", slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := writeAtomic(filepath.Join(dir, "00-meta-cni.conflist"), []byte(ownConflist), 0o644); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "meta-cni.d", "token"), "t", 0o600)
	select {
	case <-w.C:
		t.Fatal("signalled for meta-cni's own conflist, its temp file or its credentials")
	case <-time.After(300 * time.Millisecond):
	}
	writeFile(t, filepath.Join(dir, "10-bridge.conflist"), bridgeConf, 0o644)
	select {
	case <-w.C:
	case <-time.After(5 * time.Second):
		t.Fatal("no signal for a new cluster network conf")
	}
}

func TestRelevantConfEventIgnoresTheDaemonsOwnWrites(t *testing.T) {
	for path, want := range map[string]bool{
		"/net.d/10-bridge.conflist":                          true,
		"/net.d/10-bridge.conf":                              true,
		"/net.d/10-bridge.json":                              true,
		"/net.d/00-meta-cni.conflist":                        false,
		"/net.d/.meta-cni-daemon-00-meta-cni.conflist-12345": false,
		"/net.d/meta-cni.d":                                  false,
		"/net.d/10-bridge.conflist.tmp":                      false,
	} {
		if got := relevantConfEvent(path, "00-meta-cni.conflist"); got != want {
			t.Errorf("relevantConfEvent(%s) = %v, want %v", path, got, want)
		}
	}
}

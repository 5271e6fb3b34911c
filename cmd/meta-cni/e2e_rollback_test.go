package main_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// chainedBinDir makes a directory for meta-cni's binDir with a link to
// every built plugin plus "chained-lo": the loopback plugin under a name
// of its own, which as a chained plugin passes prevResult through. Tests
// remove and restore it to play a node whose binary went missing.
func (f *fixture) chainedBinDir() string {
	f.t.Helper()
	dir := filepath.Join(f.node.Dir, "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	entries, err := os.ReadDir(f.node.CNIPath)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Symlink(filepath.Join(f.node.CNIPath, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			f.t.Fatal(err)
		}
	}
	f.setChainedPlugin(dir, true)
	return dir
}

// setChainedPlugin installs or removes chained-lo in dir.
func (f *fixture) setChainedPlugin(dir string, present bool) {
	f.t.Helper()
	path := filepath.Join(dir, "chained-lo")
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		f.t.Fatal(err)
	}
	if present {
		if err := os.Symlink(filepath.Join(f.node.CNIPath, "loopback"), path); err != nil {
			f.t.Fatal(err)
		}
	}
}

// createChainedNAD is macvlan with host-local on 192.168.97.0/24, followed
// by chained-lo.
func (f *fixture) createChainedNAD() {
	f.t.Helper()
	f.createNAD(f.namespace, "chained", `{"cniVersion": "1.0.0", "name": "chained", "plugins": [
  {"type": "macvlan", "master": "ens3", "mode": "bridge",
   "ipam": {"type": "host-local", "subnet": "192.168.97.0/24", "dataDir": "`+f.ipamDir+`"}},
  {"type": "chained-lo"}]}`)
}

func (f *fixture) recordPath(sb *sandbox) string {
	return filepath.Join(f.cacheDir, "attachments", sb.rt.ContainerID+".json")
}

func requireFile(t *testing.T, path, what string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s: %v, want it kept", what, err)
	}
}

func TestFailedAddWhoseRollbackFailsKeepsTheRecordForTheRuntimesDel(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	bin := f.chainedBinDir()
	f.createChainedNAD()
	f.metaExtra = map[string]any{"binDir": bin}
	list := f.metaConfList("1.0.0")
	sb := f.newPod("keeprec", map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a, chained"})

	// chained-lo is missing: ADD of the chain fails, and so does the DEL of
	// it that the rollback runs.
	f.setChainedPlugin(bin, false)
	_, err := f.node.Add(ctx, list, sb.rt)
	if err == nil {
		t.Fatal("ADD with a missing chained plugin succeeded")
	}
	for _, want := range []string{f.namespace + "/chained", "net2", `"chained-lo"`} {
		if !strings.Contains(cniErr(t, err).Msg, want) {
			t.Errorf("ADD error %q does not name %s", cniErr(t, err).Msg, want)
		}
	}
	requireFile(t, f.recordPath(sb), "attachment record after a rollback that failed")

	// The runtime's DEL comes later, with the binary back and no API server:
	// the record alone must let it undo everything.
	f.setChainedPlugin(bin, true)
	f.kube.StopAPIServer()
	defer func() {
		if err := f.kube.Start(); err != nil {
			t.Fatalf("restart kube-apiserver: %v", err)
		}
	}()
	if err := f.node.Del(ctx, list, sb.rt); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	f.assertClean(sb)
}

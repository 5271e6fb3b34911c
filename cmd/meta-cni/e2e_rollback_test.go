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

// breakChainedPlugin makes chained-lo in dir a plugin that is installed
// but fails every ADD and DEL, so a rollback's DEL fails too.
func (f *fixture) breakChainedPlugin(dir string) {
	f.t.Helper()
	f.setChainedPlugin(dir, false)
	script := "#!/bin/sh\necho '{\"cniVersion\": \"1.0.0\", \"code\": 999, \"msg\": \"chained-lo is broken\"}'\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "chained-lo"), []byte(script), 0o755); err != nil {
		f.t.Fatal(err)
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

func (f *fixture) cachedResultPath(network, ifName string, sb *sandbox) string {
	return filepath.Join(f.cacheDir, "libcni", "results", network+"-"+sb.rt.ContainerID+"-"+ifName)
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

	// chained-lo is broken: ADD of the chain fails, and so does the DEL of
	// it that the rollback runs.
	f.breakChainedPlugin(bin)
	_, err := f.node.Add(ctx, list, sb.rt)
	if err == nil {
		t.Fatal("ADD with a broken chained plugin succeeded")
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

func TestChainWithAMissingBinaryIsReleasedPastItOnRollbackAndDel(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	bin := f.chainedBinDir()
	f.createChainedNAD()
	f.metaExtra = map[string]any{"binDir": bin}
	list := f.metaConfList("1.0.0")

	t.Run("ADD", func(t *testing.T) {
		// A chain naming a plugin no bin dir holds is refused before any
		// of the pod's networks starts: code 7 naming the network and the
		// field, no record, and the runtime's DEL succeeds (soak scenario 8
		// found the record of such a pod kept for a DEL that could never
		// succeed).
		sb := f.newPod("missing-add", map[string]string{"k8s.v1.cni.cncf.io/networks": "chained"})
		f.setChainedPlugin(bin, false)
		_, err := f.node.Add(ctx, list, sb.rt)
		if err == nil {
			t.Fatal("ADD with a missing chained plugin succeeded")
		}
		e := cniErr(t, err)
		if e.Code != 7 {
			t.Errorf("code %d (%s), want 7", e.Code, e.Msg)
		}
		for _, want := range []string{"pod " + f.namespace + "/missing-add", f.namespace + "/chained", `"plugins[1].type"`, `"chained-lo"`} {
			if !strings.Contains(e.Msg, want) {
				t.Errorf("ADD error %q does not name %s", e.Msg, want)
			}
		}
		f.assertClean(sb)
		if err := f.node.Del(ctx, list, sb.rt); err != nil {
			t.Fatalf("the runtime's DEL with chained-lo still missing: %v", err)
		}
		f.assertClean(sb)
	})

	t.Run("DEL", func(t *testing.T) {
		f.setChainedPlugin(bin, true)
		sb := f.newPod("missing-del", map[string]string{"k8s.v1.cni.cncf.io/networks": "chained"})
		if _, err := f.node.Add(ctx, list, sb.rt); err != nil {
			t.Fatalf("ADD: %v", err)
		}
		requireIn(t, addrs(t, sb.ns), "net1", "192.168.97.0/24")
		f.setChainedPlugin(bin, false)
		err := f.node.Del(ctx, list, sb.rt)
		if err == nil {
			t.Fatal("DEL with chained-lo missing succeeded")
		}
		for _, want := range []string{f.namespace + "/chained", "net1", `"chained-lo"`} {
			if !strings.Contains(cniErr(t, err).Msg, want) {
				t.Errorf("DEL error %q does not name %s", cniErr(t, err).Msg, want)
			}
		}
		// Every other plugin released its part; the record and the chain's
		// cached result (chained-lo's prevResult on the retry) stay.
		f.assertCleanExcept(sb, f.recordPath(sb), f.cachedResultPath("chained", "net1", sb))
		requireFile(t, f.recordPath(sb), "attachment record")
		requireFile(t, f.cachedResultPath("chained", "net1", sb), "cached result of the chain")
		f.setChainedPlugin(bin, true)
		if err := f.node.Del(ctx, list, sb.rt); err != nil {
			t.Fatalf("DEL with chained-lo back: %v", err)
		}
		f.assertClean(sb)
	})
}

package main_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meta-cni/meta-cni/pkg/daemon"
)

// The chart's default names no cluster network: meta-cni-daemon picks the
// conf dir's first other conf and installs meta-cni's conflist naming it.
// The runtime then loads meta-cni's conflist (the dir's first), and a pod
// gets eth0 on the cluster network through it.
func TestAutoClusterNetworkPutsEth0OnTheConfDirsClusterNetwork(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	dir := t.TempDir()
	rc, err := clientcmd.BuildConfigFromFlags("", f.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte(rc.BearerToken), 0o600); err != nil {
		t.Fatal(err)
	}
	// The chart's rendering of config: everything but a clusterNetwork.
	chart, err := json.Marshal(map[string]any{"cniVersion": "1.1.0", "name": "meta-cni", "plugins": []any{map[string]any{
		"type": "meta-cni", "kubeconfig": "/replaced", "confDir": f.confDir, "cacheDir": f.cacheDir, "binDir": f.node.CNIPath,
		"logFile": filepath.Join(f.node.Dir, "meta-cni.log"), "logLevel": "debug",
	}}})
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "meta-cni.conflist")
	if err := os.WriteFile(conf, chart, 0o644); err != nil {
		t.Fatal(err)
	}
	// The image's binaries go to a bin dir of their own: the node's holds
	// the real plugins.
	src := filepath.Join(dir, "image-bin")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "placeholder"), []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Config{
		SourceBinDir: src, CNIBinDir: filepath.Join(dir, "host-bin"),
		CNIConfDir: f.confDir, HostCNIConfDir: f.confDir, ConfFile: conf, ConfName: "00-meta-cni.conflist",
		TokenFile: token, CAFile: f.kube.CAFile, APIServer: f.kube.URL, CacheDir: f.cacheDir,
		Once: true, ClusterNetworkTimeout: 30 * time.Second, NodeName: "node-1",
	}, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(ctx); err != nil {
		t.Fatalf("meta-cni-daemon --once: %v", err)
	}

	files, err := libcni.ConfFiles(f.confDir, []string{".conf", ".conflist", ".json"})
	if err != nil || len(files) != 2 || filepath.Base(files[0]) != "00-meta-cni.conflist" {
		t.Fatalf("conf dir holds %v (%v), want meta-cni's conflist first, then the cluster network's", files, err)
	}
	list, err := libcni.ConfListFromFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var plugin struct {
		ClusterNetwork string `json:"clusterNetwork"`
	}
	if err := json.Unmarshal(list.Plugins[0].Bytes, &plugin); err != nil || plugin.ClusterNetwork != filepath.Join(f.confDir, "10-cbr0.conflist") {
		t.Fatalf("installed conflist names clusterNetwork %q (%v), want %s", plugin.ClusterNetwork, err, files[1])
	}
	sb := f.newPod("auto", nil)
	if _, err := f.node.Add(ctx, list, sb.rt); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	got := addrs(t, sb.ns)
	requireIn(t, got, "eth0", clusterSubnet)
	if len(got) != 2 {
		t.Errorf("pod has links %v, want lo and eth0", keys(got))
	}
	if err := f.node.Del(ctx, list, sb.rt); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	f.assertClean(sb)
}

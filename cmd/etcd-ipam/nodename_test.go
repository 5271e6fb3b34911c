package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/ipam"
)

// execOn runs the plugin with env added to the runtime's clean environment.
func (r *rig) execOn(cmd, cid string, conf []byte, env ...string) ([]byte, error) {
	ctx, cancel := ctxTimeout(60 * time.Second)
	defer cancel()
	return testenv.ExecPlugin(ctx, r.bin, testenv.PluginEnv{
		Command: cmd, ContainerID: cid, NetNS: fakeNetNS, IfName: "net1", Path: filepath.Dir(r.bin), Extra: env,
	}, conf)
}

func (r *rig) recordedNode(t *testing.T, cid string) string {
	t.Helper()
	ctx, cancel := ctxTimeout(5 * time.Second)
	defer cancel()
	resp, err := r.cli.Get(ctx, r.prefix+"/owners/"+cid+"/net1")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("owner record of %s: %v", cid, err)
	}
	var rec ipam.Allocation
	if err := json.Unmarshal(resp.Kvs[0].Value, &rec); err != nil {
		t.Fatal(err)
	}
	return rec.Record.Node
}

// Cloned machines share a hostname, so a GC that matched the hostname would
// release another node's live addresses: without a node name GC is refused.
func TestGCWithoutANodeNameIsRefusedAndReleasesNothing(t *testing.T) {
	host, _ := os.Hostname()
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	conf := r.conf("1.1.0", map[string]any{"subnet": "10.0.0.0/24"})
	if _, err := r.execOn("ADD", "nameless", conf); err != nil {
		t.Fatalf("ADD without a node name: %v", err)
	}
	if node := r.recordedNode(t, "nameless"); node != "" {
		t.Errorf("ADD without a node name recorded node %q (hostname %q), want none", node, host)
	}
	before := r.keys("/")
	_, err := r.execOn("GC", "", withField(t, conf, "cni.dev/valid-attachments", []map[string]string{}))
	code, msg := cniCode(t, err)
	if code != types.ErrInvalidNetworkConfig || !strings.Contains(msg, "nodeName") || !strings.Contains(msg, "NODE_NAME") {
		t.Errorf("GC without a node name: code %d %q, want 7 naming nodeName and NODE_NAME", code, msg)
	}
	if after := r.keys("/"); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("refused GC changed etcd:\nbefore %v\nafter  %v", before, after)
	}
}

func TestNodeNameComesFromNODE_NAMEWhenTheConfigHasNone(t *testing.T) {
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	conf := r.conf("1.1.0", map[string]any{"subnet": "10.0.0.0/24"})
	for _, tc := range []struct{ cid, node string }{{"on-a", "node-a"}, {"on-b", "node-b"}} {
		if _, err := r.execOn("ADD", tc.cid, conf, "NODE_NAME="+tc.node); err != nil {
			t.Fatalf("ADD on %s: %v", tc.node, err)
		}
		if got := r.recordedNode(t, tc.cid); got != tc.node {
			t.Errorf("ADD with NODE_NAME=%s recorded node %q", tc.node, got)
		}
	}
	// The config's own nodeName wins over the environment.
	if _, err := r.execOn("ADD", "pinned", withIPAMField(t, conf, "nodeName", "node-c"), "NODE_NAME=node-a"); err != nil {
		t.Fatal(err)
	}
	if got := r.recordedNode(t, "pinned"); got != "node-c" {
		t.Errorf("ipam nodeName node-c with NODE_NAME=node-a recorded %q", got)
	}
	gc := withField(t, conf, "cni.dev/valid-attachments", []map[string]string{})
	if _, err := r.execOn("GC", "", gc, "NODE_NAME=node-a"); err != nil {
		t.Fatalf("GC on node-a: %v", err)
	}
	var owners []string
	for _, k := range r.keys("/owners/") {
		owners = append(owners, strings.Split(strings.TrimPrefix(k, r.prefix+"/owners/"), "/")[0])
	}
	if strings.Join(owners, ",") != "on-b,pinned" {
		t.Errorf("owners after GC on node-a: %v, want on-b and pinned", owners)
	}
}

// withIPAMField sets one field of conf's ipam block.
func withIPAMField(t *testing.T, conf []byte, field string, v any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(conf, &m); err != nil {
		t.Fatal(err)
	}
	m["ipam"].(map[string]any)[field] = v
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

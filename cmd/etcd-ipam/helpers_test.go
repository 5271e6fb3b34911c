package main

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/types/create"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// fakeNetNS is a path that does not exist: an IPAM plugin never enters the
// netns, and skel only rejects a netns equal to its own.
const fakeNetNS = "/var/run/netns/etcd-ipam-test-none"

// rig is one test's etcd, the built plugin and a key prefix of its own.
type rig struct {
	t       testing.TB
	bin     string
	cluster *testenv.EtcdCluster
	prefix  string
	cli     *clientv3.Client
}

func newRig(t testing.TB, cluster *testenv.EtcdCluster) *rig {
	t.Helper()
	r := &rig{
		t:       t,
		bin:     filepath.Join(testenv.MustCNIPath(t), "etcd-ipam"),
		cluster: cluster,
		prefix:  "/test/" + strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()),
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: cluster.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	r.cli = cli
	return r
}

// conf builds a network config whose ipam block is ipam plus an etcd block
// pointing at the rig, unless ipam brings its own.
func (r *rig) conf(cniVersion string, ipam map[string]any) []byte {
	r.t.Helper()
	block := map[string]any{"type": "etcd-ipam"}
	for k, v := range ipam {
		block[k] = v
	}
	if _, ok := block["etcd"]; !ok {
		if _, legacy := block["etcdConfig"]; !legacy {
			block["etcd"] = map[string]any{"endpoints": r.cluster.Endpoints(), "prefix": r.prefix, "requestTimeout": "8s"}
		}
	}
	b, err := json.Marshal(map[string]any{"cniVersion": cniVersion, "name": "underlay", "type": "macvlan", "ipam": block})
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// withPrev adds prevResult to a config, as a runtime does for CHECK.
func withPrev(t testing.TB, conf, prev []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(conf, &m); err != nil {
		t.Fatal(err)
	}
	var p any
	if err := json.Unmarshal(prev, &p); err != nil {
		t.Fatal(err)
	}
	m["prevResult"] = p
	b, _ := json.Marshal(m)
	return b
}

func (r *rig) exec(cmd, cid, args string, conf []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return testenv.ExecPlugin(ctx, r.bin, testenv.PluginEnv{
		Command: cmd, ContainerID: cid, NetNS: fakeNetNS, IfName: "net1", Args: args, Path: filepath.Dir(r.bin),
	}, conf)
}

func (r *rig) mustExec(cmd, cid, args string, conf []byte) []byte {
	r.t.Helper()
	out, err := r.exec(cmd, cid, args, conf)
	if err != nil {
		r.t.Fatalf("%s %s: %v", cmd, cid, err)
	}
	return out
}

// cniCode is the CNI error code of a failed run, or 0.
func cniCode(t testing.TB, err error) (uint, string) {
	t.Helper()
	var pe *testenv.PluginError
	if !errors.As(err, &pe) || pe.CNI == nil {
		t.Fatalf("want a CNI error, got %v", err)
	}
	return pe.CNI.Code, pe.CNI.Msg
}

// ips reads the addresses of a result printed at cniVersion.
func ips(t testing.TB, cniVersion string, out []byte) []string {
	t.Helper()
	res, err := create.Create(cniVersion, out)
	if err != nil {
		t.Fatalf("parse %s result %s: %v", cniVersion, out, err)
	}
	cur, err := current.NewResultFromResult(res)
	if err != nil {
		t.Fatalf("convert result: %v", err)
	}
	var s []string
	for _, ip := range cur.IPs {
		s = append(s, ip.Address.String())
	}
	return s
}

// keys lists the keys under the rig's prefix, or under prefix+sub.
func (r *rig) keys(sub string) []string {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := r.cli.Get(ctx, r.prefix+sub, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		r.t.Fatalf("list keys: %v", err)
	}
	var out []string
	for _, kv := range resp.Kvs {
		out = append(out, string(kv.Key))
	}
	return out
}

// allocationKeys is every key but the per-range-set cursors, which hold a
// search hint and no allocation.
func (r *rig) allocationKeys() []string {
	var out []string
	for _, k := range r.keys("/") {
		if !strings.Contains(k, "/cursors/") {
			out = append(out, k)
		}
	}
	return out
}

func jsonMarshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// withField sets a top-level field of a network config.
func withField(t testing.TB, conf []byte, field string, v any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(conf, &m); err != nil {
		t.Fatal(err)
	}
	m[field] = v
	return jsonMarshal(m)
}

func ctxTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// meta-cni-daemon writes the Kubernetes node name into meta-cni's conf;
// etcd-ipam, called by macvlan under meta-cni, must record its allocations
// under that name, with no NODE_NAME in the runtime's environment and
// whatever the hostname is. (GC cannot be shown this way: macvlan does not
// pass GC on to its IPAM; cmd/etcd-ipam tests GC by NODE_NAME.)
func TestConfNodeNameReachesEtcdIPAMThroughMacvlan(t *testing.T) {
	t.Setenv("NODE_NAME", "")
	t.Setenv("KUBERNETES_NODE_NAME", "")
	f := newFixture(t)
	ctx := context.Background()
	etcd := testenv.StartEtcd(t)
	ep := etcd.Endpoints()[0]
	u, err := url.Parse(ep)
	if err != nil {
		t.Fatal(err)
	}
	testenv.ForwardIntoNST(t, f.node.NS, u.Host)
	prefix := "/meta-cni-test/" + f.namespace
	f.createNAD(f.namespace, "underlay", fmt.Sprintf(`{"cniVersion":"1.1.0","type":"macvlan","master":"ens3","mode":"bridge",
  "ipam":{"type":"etcd-ipam","subnet":"192.168.93.0/24","etcd":{"endpoints":[%q],"prefix":%q}}}`, ep, prefix))
	f.metaExtra = map[string]any{"nodeName": "node-1"}
	list := f.metaConfList("1.1.0")
	sb := f.newPod("web", map[string]string{"k8s.v1.cni.cncf.io/networks": "underlay"})
	if _, err := f.node.Add(ctx, list, sb.rt); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	requireIn(t, addrs(t, sb.ns), "net1", "192.168.93.0/24")

	cli, err := clientv3.New(clientv3.Config{Endpoints: etcd.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	owners := func() map[string]string {
		t.Helper()
		resp, err := cli.Get(ctx, prefix+"/owners/", clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		nodes := map[string]string{}
		for _, kv := range resp.Kvs {
			var rec struct {
				Node string `json:"node"`
			}
			if err := json.Unmarshal(kv.Value, &rec); err != nil {
				t.Fatalf("%s: %v", kv.Key, err)
			}
			nodes[string(kv.Key)] = rec.Node
		}
		return nodes
	}
	got := owners()
	if len(got) != 1 {
		t.Fatalf("owner records %v, want one", got)
	}
	for key, node := range got {
		if node != "node-1" {
			t.Errorf("%s records node %q, want the conf's nodeName node-1", key, node)
		}
	}

	if err := f.node.Del(ctx, list, sb.rt); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if after := owners(); len(after) != 0 {
		t.Errorf("owner records after DEL: %v", after)
	}
	f.assertClean(sb)
}

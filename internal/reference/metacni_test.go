package reference_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// etcdPrefix is etcd-ipam's key prefix in the control plane's etcd.
const etcdPrefix = "/meta-cni-reference"

// attachMetaCNI runs the same load as attachReference through meta-cni
// standalone (its own kubeconfig, no node API) with etcd-ipam, on the same
// node and cluster network, and checks the same outcome: distinct
// addresses, and nothing left in etcd after DEL.
func attachMetaCNI(t *testing.T, k *testenv.Kube, node *testenv.Node) figures {
	t.Helper()
	rules, err := testenv.ChartRBACRules()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := k.ServiceAccountKubeconfig(t.TempDir(), "meta-cni-system", "meta-cni", rules)
	if err != nil {
		t.Fatal(err)
	}
	ep := k.Etcd.Endpoints()[0]
	ipam := map[string]any{"type": "etcd-ipam", "subnet": etcdSubnet, "rangeStart": "192.168.93.10", "rangeEnd": "192.168.93.250", "etcd": map[string]any{"endpoints": []string{ep}, "prefix": etcdPrefix}}
	createNAD(t, k, "macvlan-etcd", chain("macvlan-etcd", ipam, etcdHostIP))
	data, err := json.Marshal(map[string]any{"cniVersion": "1.0.0", "name": "meta-cni-net", "plugins": []any{map[string]any{
		"type": "meta-cni", "kubeconfig": kubeconfig, "clusterNetwork": "cbr0",
		"confDir": filepath.Join(node.Dir, "net.d"), "cacheDir": filepath.Join(node.Dir, "meta-cni"),
		"binDir": node.CNIPath, "logFile": filepath.Join(node.Dir, "meta-cni.log"),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	list, err := libcni.ConfListFromBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	rt := newRuntime(t, node, list, node.CNIPath, "meta")
	sbs := newSandboxes(t, k, namespace, "meta", "macvlan-etcd", pods)

	lat, wall, failed := rt.attachAll(t, sbs)
	if got := podAddresses(t, sbs, "net1", mustCIDR(etcdSubnet)); len(got) != pods {
		t.Errorf("%d distinct addresses for %d pods", len(got), pods)
	}
	rt.detachAll(t, sbs)
	assertLinkGone(t, sbs, "net1")
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, etcdPrefix+"/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatalf("read etcd-ipam's keys: %v", err)
	}
	for _, kv := range resp.Kvs {
		// The allocation cursor (the next-fit hint) rightly stays.
		if key := string(kv.Key); !strings.HasPrefix(key, etcdPrefix+"/cursors/") {
			t.Errorf("etcd-ipam key %s left after every pod's DEL", key)
		}
	}
	return figures{lat: lat, rate: float64(pods) / wall.Seconds(), failed: failed}
}

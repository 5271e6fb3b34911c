package daemon

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/ipam"
)

func TestEtcdIPAMConfsFindsEachEtcdIPAMBlockOfAConfOrConflist(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		want         []string // the ipam blocks' subnets, in order
		wantErr      string
	}{
		{name: "empty config names a file on the node", config: ""},
		{name: "conf", config: `{"cniVersion":"1.0.0","name":"a","type":"macvlan","ipam":{"type":"etcd-ipam","subnet":"10.1.0.0/24"}}`,
			want: []string{"10.1.0.0/24"}},
		{name: "conflist with host-route", config: `{"cniVersion":"1.0.0","name":"b","plugins":[
			{"type":"macvlan","ipam":{"type":"etcd-ipam","subnet":"10.2.0.0/24"}},{"type":"host-route"}]}`, want: []string{"10.2.0.0/24"}},
		{name: "another IPAM is not counted", config: `{"cniVersion":"1.0.0","name":"c","type":"bridge","ipam":{"type":"host-local","subnet":"10.3.0.0/24"}}`},
		{name: "no IPAM", config: `{"cniVersion":"1.0.0","name":"d","type":"tuning"}`},
		{name: "not JSON", config: `{"cniVersion":`, wantErr: "spec.config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := etcdIPAMConfs("nad", tc.config)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to name %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d confs %s, want %d", len(got), got, len(tc.want))
			}
			for i, conf := range got {
				if !strings.Contains(string(conf), `"subnet":"`+tc.want[i]+`"`) || !strings.Contains(string(conf), `"cniVersion":"1.0.0"`) {
					t.Errorf("conf %d = %s, want the ipam block of %s with the network's cniVersion", i, conf, tc.want[i])
				}
			}
		})
	}
}

// The pool count counts the etcd-ipam plugins libcni runs from the same
// bytes: encoding/json alone read "Plugins" as the plugin list, so a NAD
// could hide a pool from the count or show one that never runs.
func TestEtcdIPAMConfsCountWhatLibcniRuns(t *testing.T) {
	const etcdIPAM = `{"type":"macvlan","ipam":{"type":"etcd-ipam","subnet":"10.9.0.0/24","etcd":{"endpoints":["https://127.0.0.1:2379"]}}}`
	for _, tc := range []struct {
		name, config string
		want         int
	}{
		{"a single conf beside a Plugins list", `{"cniVersion":"1.0.0","name":"m","type":"bridge","Plugins":[` + etcdIPAM + `]}`, 0},
		{"a plugins list beside an empty Plugins", `{"cniVersion":"1.0.0","name":"m","plugins":[` + etcdIPAM + `],"Plugins":[]}`, 1},
		{"the last of two plugins keys", `{"cniVersion":"1.0.0","name":"m","plugins":[` + etcdIPAM + `],"plugins":[{"type":"bridge"}]}`, 0},
		{"ipam beside IPAM", `{"cniVersion":"1.0.0","name":"m","plugins":[{"type":"macvlan","ipam":{"type":"etcd-ipam","subnet":"10.9.0.0/24","etcd":{"endpoints":["https://127.0.0.1:2379"]}},"IPAM":{"type":"host-local"}}]}`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			confs, err := etcdIPAMConfs("m", tc.config)
			if err != nil {
				t.Fatal(err)
			}
			libcniCount, ok := libcniEtcdIPAMCount([]byte(tc.config), "m")
			if !ok || len(confs) != libcniCount || len(confs) != tc.want {
				t.Fatalf("counted %d etcd-ipam plugins, libcni runs %d (ok %v), want %d", len(confs), libcniCount, ok, tc.want)
			}
			for _, c := range confs {
				if _, err := ipam.ParseConfig(c, ""); err != nil {
					t.Errorf("etcd-ipam refuses the conf it would be given: %v\n%s", err, c)
				}
			}
		})
	}
}

// A NAD whose config names no network is counted under the name meta-cni
// gives it on ADD: the NAD's.
func TestEtcdIPAMConfsNameAnUnnamedConfigAfterTheNAD(t *testing.T) {
	confs, err := etcdIPAMConfs("macvlan-conf", `{"cniVersion":"1.0.0","type":"macvlan","ipam":{"type":"etcd-ipam","subnet":"10.9.0.0/24","etcd":{"endpoints":["https://127.0.0.1:2379"]}}}`)
	if err != nil || len(confs) != 1 {
		t.Fatalf("confs %s, err %v", confs, err)
	}
	cfg, err := ipam.ParseConfig(confs[0], "")
	if err != nil || cfg.Name != "macvlan-conf" {
		t.Fatalf("config %+v, err %v; want it named after the NAD", cfg, err)
	}
}

// The leader counts every etcd-ipam NAD's pools from etcd key counts, keeps
// the figures fresh, counts what it cannot read as an error, and stops
// exporting them when it stops leading.
func TestDaemonLeaderExportsPoolUsageOfEveryEtcdIPAMNAD(t *testing.T) {
	testenv.RequireRoot(t)
	k := testenv.StartKubeT(t)
	if err := k.InstallNADCRD(); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"meta-cni", "tenant"} {
		if err := k.EnsureNamespace(ns); err != nil {
			t.Fatal(err)
		}
	}
	const prefix = "/pool-test/ipam"
	store, eps := realStore(t, prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	underlay := fmt.Sprintf(`{"cniVersion":"1.0.0","name":"macvlan-conf","plugins":[{"type":"macvlan","master":"ens3",
	  "ipam":{"type":"etcd-ipam","subnet":"192.168.91.0/24","rangeStart":"192.168.91.100","rangeEnd":"192.168.91.110",
	          "etcd":{"endpointsFile":"/etc/cni/net.d/meta-cni.d/etcd/endpoints","prefix":%q}}},{"type":"host-route"}]}`, prefix)
	for _, nad := range []struct{ ns, name, config string }{
		{"tenant", "macvlan-conf", underlay},
		{"tenant", "cluster", `{"cniVersion":"1.0.0","name":"cluster","type":"bridge","ipam":{"type":"host-local","subnet":"10.244.0.0/24"}}`},
		{"tenant", "broken", `{"cniVersion":`},
	} {
		obj := &nadv1.NetworkAttachmentDefinition{ObjectMeta: metav1.ObjectMeta{Namespace: nad.ns, Name: nad.name},
			Spec: nadv1.NetworkAttachmentDefinitionSpec{Config: nad.config}}
		if _, err := k.NADClientset().K8sCniCncfIoV1().NetworkAttachmentDefinitions(nad.ns).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := ipam.ParseConfig([]byte(`{"cniVersion":"1.0.0","name":"macvlan-conf","ipam":{"type":"etcd-ipam","subnet":"192.168.91.0/24",
	  "rangeStart":"192.168.91.100","rangeEnd":"192.168.91.110","etcd":{"endpoints":["127.0.0.1:1"]}}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	allocate := func(id string) {
		t.Helper()
		if _, err := store.Allocate(ctx, ipam.Request{Owner: ipam.Record{ContainerID: id, IfName: "net1", PodNamespace: "tenant",
			PodName: id, PodUID: "uid-" + id, Node: "node-1"}, Sets: cfg.RangeSets}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"a", "b", "c"} {
		allocate(id)
	}

	t.Setenv("POD_NAMESPACE", "meta-cni")
	t.Setenv("NODE_NAME", "node-1")
	f := newFixture(t, func(c *Config) {
		c.APIServer, c.CAFile = k.URL, k.CAFile
		c.IPAMReconcileInterval, c.IPAMReconcileGrace, c.IPAMEtcdPrefix = time.Hour, time.Hour, prefix
		c.IPAMPoolCountInterval = 100 * time.Millisecond
		c.TokenRefreshInterval = time.Hour
	})
	stop := runWithEtcdSecret(t, f, k.AdminToken, eps)

	series := func(state string) string {
		return `meta_cni_ipam_pool_addresses{pool="tenant/macvlan-conf",range_set="192.168.91.100-192.168.91.110 in 192.168.91.0/24",state="` + state + `"}`
	}
	wantUsage := func(used float64) {
		t.Helper()
		eventually(t, 20*time.Second, func() (bool, string) {
			u, fr, tot := value(t, f.d.registry, series("used")), value(t, f.d.registry, series("free")), value(t, f.d.registry, series("total"))
			return u == used && fr == 11-used && tot == 11, fmt.Sprintf("used %v free %v total %v, want %v/%v/11", u, fr, tot, used, 11-used)
		})
	}
	wantUsage(3)
	allocate("d")
	wantUsage(4)
	if n := testutil.CollectAndCount(daemonCollector{f.d}, "meta_cni_ipam_pool_addresses"); n != 3 {
		t.Errorf("%d pool series, want used, free and total of the one etcd-ipam NAD", n)
	}
	if v := value(t, f.d.registry, "meta_cni_ipam_pool_count_errors_total"); v < 1 {
		t.Errorf("count errors = %v; the NAD with a broken config must count as one", v)
	}

	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if n := testutil.CollectAndCount(daemonCollector{f.d}, "meta_cni_ipam_pool_addresses"); n != 0 {
		t.Errorf("a daemon that no longer leads still exports %d pool series", n)
	}
}

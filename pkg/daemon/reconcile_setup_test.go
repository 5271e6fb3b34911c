package daemon

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/ipam"
)

func TestReconcilerSetupIsOffOrFailsWithoutWhatItNeeds(t *testing.T) {
	for _, tc := range []struct {
		name      string
		interval  time.Duration
		endpoints *string // nil: no endpoints file
		files     map[string]string
		namespace string
		noNode    bool // NODE_NAME unset
		off       bool
		wantErr   string
	}{
		{name: "interval 0 turns it off", interval: 0, endpoints: ptr("http://127.0.0.1:2379"), namespace: "meta-cni", off: true},
		{name: "no endpoints file turns it off", interval: time.Minute, namespace: "meta-cni", off: true},
		{name: "empty endpoints file turns it off", interval: time.Minute, endpoints: ptr(" \n"), namespace: "meta-cni", off: true},
		{name: "no POD_NAMESPACE turns it off", interval: time.Minute, endpoints: ptr("http://127.0.0.1:2379"), off: true},
		{name: "no NODE_NAME turns it off rather than take the hostname", interval: time.Minute, endpoints: ptr("http://127.0.0.1:2379"),
			namespace: "meta-cni", noNode: true, off: true, wantErr: "NODE_NAME"},
		{name: "endpoint without a port fails naming the file", interval: time.Minute, endpoints: ptr("etcd-endpoints"), namespace: "meta-cni",
			wantErr: "not host:port"},
		{name: "certificate without key fails", interval: time.Minute, endpoints: ptr("https://127.0.0.1:2379"), namespace: "meta-cni",
			files: map[string]string{"tls.crt": "x"}, wantErr: "tls.crt and tls.key"},
		{name: "CA that is not PEM fails naming the file", interval: time.Minute, endpoints: ptr("https://127.0.0.1:2379"), namespace: "meta-cni",
			files: map[string]string{"ca.crt": "not pem"}, wantErr: "ca.crt holds no PEM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("POD_NAMESPACE", tc.namespace)
			t.Setenv("KUBERNETES_NODE_NAME", "")
			if t.Setenv("NODE_NAME", "node-1"); tc.noNode {
				t.Setenv("NODE_NAME", "")
			}
			f := newFixture(t, func(c *Config) {
				c.IPAMReconcileInterval, c.IPAMReconcileGrace, c.IPAMEtcdPrefix = tc.interval, time.Minute, ipam.DefaultPrefix
			})
			if err := os.MkdirAll(f.cfg.EtcdSecretDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if tc.endpoints != nil {
				writeFile(t, filepath.Join(f.cfg.EtcdSecretDir, "endpoints"), *tc.endpoints, 0o600)
			}
			for name, content := range tc.files {
				writeFile(t, filepath.Join(f.cfg.EtcdSecretDir, name), content, 0o600)
			}
			_, r, _, err := f.d.reconcilerSetup()
			if r != nil {
				t.Fatalf("set up a reconciler; want none")
			}
			if tc.off != errors.Is(err, errReconcilerOff) {
				t.Errorf("err = %v, want off: %v", err, tc.off)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("err = %v, want it to say %q", err, tc.wantErr)
			}
		})
	}
}

func ptr(s string) *string { return &s }

// The daemon as the chart runs it: the etcd Secret's files, the
// ServiceAccount's token and CA, POD_NAMESPACE and NODE_NAME.
func TestDaemonRunLeadsAndReleasesADeadPodsAllocationFromTheEtcdSecret(t *testing.T) {
	testenv.RequireRoot(t)
	k := testenv.StartKubeT(t)
	if err := k.EnsureNamespace("meta-cni"); err != nil {
		t.Fatal(err)
	}
	store, eps := realStore(t, "/daemon-test/ipam")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := store.Allocate(ctx, ipam.Request{Owner: ipam.Record{ContainerID: "dead", IfName: "net1", PodNamespace: "default",
		PodName: "gone", PodUID: "uid-gone", Node: "node-dead"}, Sets: []*ipam.RangeSet{rangeSet(t, "10.88.0.0/24")}}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("POD_NAMESPACE", "meta-cni")
	t.Setenv("NODE_NAME", "node-7")
	f := newFixture(t, func(c *Config) {
		c.APIServer, c.CAFile = k.URL, k.CAFile
		// The first pass runs at once; a longer interval only gives each
		// pass a timeout that a loaded machine cannot miss.
		c.IPAMReconcileInterval, c.IPAMReconcileGrace, c.IPAMEtcdPrefix = 5*time.Second, time.Millisecond, "/daemon-test/ipam/"
		c.TokenRefreshInterval = time.Hour
	})
	stop := runWithEtcdSecret(t, f, k.AdminToken, eps)

	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		holders, err := store.Holders(ctx)
		if err == nil && len(holders) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead pod's allocation still held: %v, %v", holders, err)
		}
	}
	rec := httptest.NewRecorder()
	f.d.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{"meta_cni_ipam_reconcile_leader 1\n", "meta_cni_ipam_reconcile_released_total 1\n", "meta_cni_ipam_reconcile_errors_total 0\n"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, rec.Body.String())
		}
	}
	lease, err := k.Clientset().CoordinationV1().Leases("meta-cni").Get(ctx, LeaseName, metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "node-7" {
		t.Fatalf("lease = %+v, %v; want held by node-7", lease, err)
	}

	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	lease, err = k.Clientset().CoordinationV1().Leases("meta-cni").Get(ctx, LeaseName, metav1.GetOptions{})
	if err != nil || (lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "") {
		t.Errorf("after stopping, lease holder = %v, %v; want the lease given up", lease.Spec.HolderIdentity, err)
	}
}

// runWithEtcdSecret runs the fixture's daemon as the chart does, with token
// as its ServiceAccount token and eps in its etcd Secret, until the returned
// func (also called at cleanup) stops it and returns what Run returned.
func runWithEtcdSecret(t *testing.T, f *fixture, token string, eps []string) (stop func() error) {
	t.Helper()
	writeFile(t, f.cfg.TokenFile, token, 0o600)
	writeFile(t, filepath.Join(f.cfg.EtcdSecretDir, "endpoints"), strings.Join(eps, ","), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan error, 1)
	go func() { exited <- f.d.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-exited
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

package metacni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meta-cni/meta-cni/pkg/config"
	"github.com/meta-cni/meta-cni/pkg/delegate"
	"github.com/meta-cni/meta-cni/pkg/kube"
)

var nadResource = schema.GroupResource{Group: "k8s.cni.cncf.io", Resource: "network-attachment-definitions"}

// fakeAPI serves NADs from a map keyed "ns/name"; unknown ones are
// NotFound, and errs forces an error for a key. resolve fetches NADs
// concurrently, hence the lock.
type fakeAPI struct {
	mu   sync.Mutex
	nads map[string]string // "ns/name" -> spec.config
	errs map[string]error
	gets []string
	// confDir is the fixture's confDir, for tests to shorten file: networks.
	confDir string
}

func (f *fakeAPI) GetPod(context.Context, string, string, string) (*kube.Pod, error) {
	return nil, errors.New("resolve must not read the pod")
}

func (f *fakeAPI) GetNetworkAttachmentDefinition(_ context.Context, ns, name string) (*nadv1.NetworkAttachmentDefinition, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := ns + "/" + name
	f.gets = append(f.gets, key)
	if err := f.errs[key]; err != nil {
		return nil, err
	}
	cfg, ok := f.nads[key]
	if !ok {
		return nil, fmt.Errorf("get NetworkAttachmentDefinition %s: %w", key, apierrors.NewNotFound(nadResource, name))
	}
	return &nadv1.NetworkAttachmentDefinition{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       nadv1.NetworkAttachmentDefinitionSpec{Config: cfg},
	}, nil
}

func (f *fakeAPI) SetPodAnnotation(context.Context, *kube.Pod, string, string) error {
	return errors.New("resolve must not patch the pod")
}

func (f *fakeAPI) Event(context.Context, *kube.Pod, string, string, string) error {
	return errors.New("resolve must not record events")
}

// standardNADs are the NADs most cases use.
func standardNADs() map[string]string {
	return map[string]string{
		"kube-system/side":    `{"cniVersion":"1.0.0","name":"side","type":"macvlan"}`,
		"kube-system/cl-nad":  `{"cniVersion":"1.0.0","name":"cl-nad","plugins":[{"type":"bridge"}]}`,
		"nets/cluster-alt":    `{"cniVersion":"1.0.0","name":"cluster-alt","type":"ptp"}`,
		"team-a/net-a":        `{"cniVersion":"1.0.0","type":"macvlan"}`,
		"team-a/net-b":        `{"cniVersion":"1.0.0","name":"net-b","type":"ipvlan"}`,
		"team-b/net-c":        `{"cniVersion":"1.0.0","name":"net-c","type":"macvlan"}`,
		"default/global-net":  `{"cniVersion":"1.0.0","name":"global-net","type":"macvlan"}`,
		"kube-system/sys-net": `{"cniVersion":"1.0.0","name":"sys-net","type":"macvlan"}`,
		"team-a/fallback":     ``,
		"team-a/orphan":       `  `,
		"team-a/noversion":    `{"name":"noversion","type":"macvlan"}`,
	}
}

// writeConfDir fills a confDir: meta-cni's own conf (named "cluster" and
// sorted first, so only skipping it lets the real one be found), the
// cluster network, a conf for NADs with empty spec.config, and noise.
func writeConfDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string]string{
		"00-meta-cni.conflist": `{"cniVersion":"1.0.0","name":"cluster","plugins":[{"type":"meta-cni","clusterNetwork":"cluster"}]}`,
		"01-meta-cni.conf":     `{"cniVersion":"1.0.0","name":"own","type":"meta-cni","clusterNetwork":"cluster"}`,
		"10-cluster.conflist":  `{"cniVersion":"1.0.0","name":"cluster","plugins":[{"type":"ptp"}]}`,
		"20-fallback.conf":     `{"cniVersion":"0.4.0","name":"fallback","type":"macvlan","master":"eth1"}`,
		"30-broken.conf":       `{"name":`,
		"40-nameless.json":     `{"type":"bridge"}`,
		"cluster.txt":          `{"name":"cluster","type":"wrong"}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fixture is one resolve call's world.
type fixture struct {
	netconf     string // fields added to the NetConf
	noAPI       bool   // the caller is not a Kubernetes runtime
	podNS       string // "" means no pod
	annotations map[string]string
	nads        map[string]string // nil means standardNADs
	apiErrs     map[string]error  // errors the API returns for "ns/name"
}

func (fx fixture) resolve(t *testing.T) ([]delegate.Delegate, *fakeAPI, error) {
	t.Helper()
	dir := writeConfDir(t)
	data := `{"cniVersion":"1.0.0","name":"meta","type":"meta-cni","confDir":` + quote(dir)
	if fx.netconf != "" {
		data += "," + fx.netconf
	}
	data += "}"
	conf, err := config.Parse([]byte(data))
	if err != nil {
		t.Fatalf("config.Parse(%s) = %v", data, err)
	}
	nads := fx.nads
	if nads == nil {
		nads = standardNADs()
	}
	api := &fakeAPI{nads: nads, errs: map[string]error{}, confDir: dir}
	for k, err := range fx.apiErrs {
		if err != nil {
			api.errs[k] = err
		}
	}
	r := &resolver{conf: conf, confs: &confDir{dir: dir}}
	if !fx.noAPI {
		r.api = api
	}
	if fx.podNS != "" {
		r.pod = &kube.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: fx.podNS, Name: "pod1", UID: "uid1", Annotations: fx.annotations}}
	}
	ds, err := r.resolve(context.Background(), "eth0")
	return ds, api, err
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// brief is what a test pins down about one delegate.
type brief struct {
	network string // "file:" networks are relative to the confDir, written "file:@/name"
	name    string
	ifName  string
}

func briefs(ds []delegate.Delegate, confDir string) []brief {
	out := []brief{}
	for _, d := range ds {
		network := d.Network
		if confDir != "" {
			network = strings.Replace(network, "file:"+confDir, "file:@", 1)
		}
		out = append(out, brief{network, d.Name, d.IfName})
	}
	return out
}

// mustResolve returns the delegates and the fixture's confDir.
func mustResolve(t *testing.T, fx fixture) ([]delegate.Delegate, string) {
	t.Helper()
	ds, api, err := fx.resolve(t)
	if err != nil {
		t.Fatalf("resolve = %v, want success", err)
	}
	if len(ds) == 0 || !ds[0].Cluster || ds[0].IfName != "eth0" {
		t.Fatalf("first delegate %+v is not the cluster network on eth0", ds)
	}
	for _, d := range ds[1:] {
		if d.Cluster {
			t.Fatalf("delegate %s on %s is marked as the cluster network", d.Network, d.IfName)
		}
	}
	return ds, api.confDir
}

func checkNetworkError(t *testing.T, err error, network, field, reason string) *NetworkError {
	t.Helper()
	var nerr *NetworkError
	if !errors.As(err, &nerr) {
		t.Fatalf("error = %v (%T), want a *NetworkError", err, err)
	}
	if nerr.Network != network || nerr.Field != field || !strings.Contains(nerr.Error(), reason) {
		t.Fatalf("error = %q (%+v)\nwant network %s, field %q, message containing %q", err, nerr, network, field, reason)
	}
	if !strings.HasPrefix(err.Error(), "network "+network) {
		t.Fatalf("message %q does not start with the network", err)
	}
	if field != "" && !strings.Contains(err.Error(), fmt.Sprintf("field %q", field)) {
		t.Fatalf("message %q does not name field %q", err, field)
	}
	return nerr
}

package metacni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meta-cni/meta-cni/pkg/annotations"
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

func (f *fakeAPI) SetPodAnnotation(context.Context, string, string, string, string) error {
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

func TestResolveClusterNetworkSources(t *testing.T) {
	abs := filepath.Join(t.TempDir(), "my-cluster.conf")
	if err := os.WriteFile(abs, []byte(`{"cniVersion":"1.0.0","type":"bridge"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		fx   fixture
		want brief
	}{
		{"conf in confDir by name, skipping meta-cni's own conf of that name",
			fixture{netconf: `"clusterNetwork":"cluster"`, podNS: "default"},
			brief{"file:@/10-cluster.conflist", "cluster", "eth0"}},
		{"conf in confDir without the API (non-Kubernetes caller)",
			fixture{netconf: `"clusterNetwork":"cluster"`, noAPI: true},
			brief{"file:@/10-cluster.conflist", "cluster", "eth0"}},
		{"absolute file path, named after the file when the conf has no name",
			fixture{netconf: `"clusterNetwork":` + quote(abs), noAPI: true},
			brief{"file:" + abs, "my-cluster", "eth0"}},
		{"NAD as ns/name",
			fixture{netconf: `"clusterNetwork":"nets/cluster-alt"`, podNS: "default"},
			brief{"nets/cluster-alt", "cluster-alt", "eth0"}},
		{"bare name not in confDir is a NAD in multusNamespace",
			fixture{netconf: `"clusterNetwork":"cl-nad"`, podNS: "default"},
			brief{"kube-system/cl-nad", "cl-nad", "eth0"}},
		{"bare name with multusNamespace set",
			fixture{netconf: `"clusterNetwork":"cluster-alt","multusNamespace":"nets"`, podNS: "default"},
			brief{"nets/cluster-alt", "cluster-alt", "eth0"}},
		{"inline delegates, first entry only",
			fixture{netconf: `"delegates":[{"cniVersion":"1.0.0","name":"inline","type":"flannel"},{"name":"ignored","type":"x"}]`, noAPI: true},
			brief{"delegates[0]", "inline", "eth0"}},
		{"inline delegate without name is called cluster",
			fixture{netconf: `"delegates":[{"type":"flannel"}]`, noAPI: true},
			brief{"delegates[0]", "cluster", "eth0"}},
		{"clusterNetwork wins over inline delegates",
			fixture{netconf: `"clusterNetwork":"cluster","delegates":[{"name":"inline","type":"flannel"}]`, noAPI: true},
			brief{"file:@/10-cluster.conflist", "cluster", "eth0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, dir := mustResolve(t, tc.fx)
			if got := briefs(ds, dir); !reflect.DeepEqual(got, []brief{tc.want}) {
				t.Fatalf("delegates = %+v, want %+v", got, []brief{tc.want})
			}
		})
	}
}

func TestResolveClusterNetworkFromConfDirHandsOverTheFileContent(t *testing.T) {
	ds, _ := mustResolve(t, fixture{netconf: `"clusterNetwork":"cluster"`, noAPI: true})
	var list struct {
		Plugins []struct{ Type string } `json:"plugins"`
	}
	if err := json.Unmarshal(ds[0].ConfList, &list); err != nil || len(list.Plugins) != 1 || list.Plugins[0].Type != "ptp" {
		t.Fatalf("conflist %s is not 10-cluster.conflist's (err %v)", ds[0].ConfList, err)
	}
}

func TestResolveDefaultNetworkAnnotationReplacesClusterNetworkOnEth0(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        brief
	}{
		{"ns/name", "nets/cluster-alt", brief{"nets/cluster-alt", "cluster-alt", "eth0"}},
		{"bare name takes the pod's namespace", "net-b", brief{"team-a/net-b", "net-b", "eth0"}},
		{"JSON object form", `{"name":"cluster-alt","namespace":"nets"}`, brief{"nets/cluster-alt", "cluster-alt", "eth0"}},
		{"NAD without a name in its config is named after the NAD", "team-a/net-a", brief{"team-a/net-a", "net-a", "eth0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, dir := mustResolve(t, fixture{netconf: `"clusterNetwork":"cluster"`, podNS: "team-a",
				annotations: map[string]string{annotations.DefaultNetworkKey: tc.value}})
			if got := briefs(ds, dir); !reflect.DeepEqual(got, []brief{tc.want}) {
				t.Fatalf("delegates = %+v, want %+v", got, []brief{tc.want})
			}
		})
	}
}

func TestResolveBlankDefaultNetworkAnnotationKeepsClusterNetwork(t *testing.T) {
	ds, _ := mustResolve(t, fixture{netconf: `"clusterNetwork":"nets/cluster-alt"`, podNS: "team-a",
		annotations: map[string]string{annotations.DefaultNetworkKey: "  "}})
	if ds[0].Network != "nets/cluster-alt" {
		t.Fatalf("cluster delegate = %s, want nets/cluster-alt", ds[0].Network)
	}
}

func TestResolveNamesExtraInterfacesByPosition(t *testing.T) {
	for _, tc := range []struct {
		name     string
		defaults string
		networks string
		want     []brief
	}{
		{"annotation only", "", "net-a, net-b",
			[]brief{{"team-a/net-a", "net-a", "net1"}, {"team-a/net-b", "net-b", "net2"}}},
		{"defaultNetworks come first, then the annotation", `["side"]`, "net-a,team-b/net-c",
			[]brief{{"kube-system/side", "side", "net1"}, {"team-a/net-a", "net-a", "net2"}, {"team-b/net-c", "net-c", "net3"}}},
		{"defaultNetworks from confDir and by ns/name", `["fallback","team-b/net-c"]`, "",
			[]brief{{"file:@/20-fallback.conf", "fallback", "net1"}, {"team-b/net-c", "net-c", "net2"}}},
		{"@ifname keeps its name and the rest keep their positions", "", "net-a, net-b@custom, team-b/net-c",
			[]brief{{"team-a/net-a", "net-a", "net1"}, {"team-a/net-b", "net-b", "custom"}, {"team-b/net-c", "net-c", "net3"}}},
		{"JSON interface field", `["side"]`, `[{"name":"net-a","interface":"data0"},{"name":"net-c","namespace":"team-b"}]`,
			[]brief{{"kube-system/side", "side", "net1"}, {"team-a/net-a", "net-a", "data0"}, {"team-b/net-c", "net-c", "net3"}}},
		{"same network twice on two interfaces", "", "net-b,net-b",
			[]brief{{"team-a/net-b", "net-b", "net1"}, {"team-a/net-b", "net-b", "net2"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fields := `"clusterNetwork":"cluster"`
			if tc.defaults != "" {
				fields += `,"defaultNetworks":` + tc.defaults
			}
			ds, dir := mustResolve(t, fixture{netconf: fields, podNS: "team-a",
				annotations: map[string]string{annotations.NetworksKey: tc.networks}})
			want := append([]brief{{"file:@/10-cluster.conflist", "cluster", "eth0"}}, tc.want...)
			if got := briefs(ds, dir); !reflect.DeepEqual(got, want) {
				t.Fatalf("delegates =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestResolvePassesSelectionRequestsToDelegates(t *testing.T) {
	ds, _ := mustResolve(t, fixture{netconf: `"clusterNetwork":"cluster"`, podNS: "team-a",
		annotations: map[string]string{annotations.NetworksKey: `[
			{"name":"net-a","ips":["10.1.0.5/24"],"mac":"02:00:00:00:00:05","default-route":["10.1.0.1"],
			 "cni-args":{"vlan":12},"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"TCP"}],
			 "bandwidth":{"ingressRate":1000}},
			{"name":"net-b"}]`}})
	if len(ds) != 3 {
		t.Fatalf("got %d delegates, want 3", len(ds))
	}
	a, b := ds[1], ds[2]
	if !reflect.DeepEqual(a.Gateways, []net.IP{net.ParseIP("10.1.0.1")}) {
		t.Errorf("net-a gateways = %v, want [10.1.0.1]", a.Gateways)
	}
	caps, err := json.Marshal(a.CapabilityArgs)
	if err != nil {
		t.Fatal(err)
	}
	wantCaps := `{"bandwidth":{"ingressRate":1000},"ips":["10.1.0.5/24"],"mac":"02:00:00:00:00:05","portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}`
	if string(caps) != wantCaps {
		t.Errorf("net-a capability args = %s\nwant %s", caps, wantCaps)
	}
	if !strings.Contains(string(a.ConfList), `"args":{"cni":{"vlan":12}}`) {
		t.Errorf("net-a conflist %s lacks args.cni from cni-args", a.ConfList)
	}
	if b.CapabilityArgs != nil || b.Gateways != nil || strings.Contains(string(b.ConfList), `"args"`) {
		t.Errorf("net-b got requests it did not make: %+v", b)
	}
	if ds[0].Gateways != nil || ds[0].CapabilityArgs != nil {
		t.Errorf("cluster network got requests: %+v", ds[0])
	}
}

func TestResolveInjectsNetConfCNIVersionIntoNADWithoutOne(t *testing.T) {
	ds, _ := mustResolve(t, fixture{netconf: `"clusterNetwork":"cluster"`, podNS: "team-a",
		annotations: map[string]string{annotations.NetworksKey: "noversion"}})
	var list struct {
		CNIVersion string `json:"cniVersion"`
	}
	if err := json.Unmarshal(ds[1].ConfList, &list); err != nil || list.CNIVersion != "1.0.0" {
		t.Fatalf("conflist %s: cniVersion %q, want 1.0.0 injected (err %v)", ds[1].ConfList, list.CNIVersion, err)
	}
}

func TestResolveSystemNamespacesGetOnlyTheClusterNetwork(t *testing.T) {
	for _, tc := range []struct {
		name, netconf, podNS string
	}{
		{"kube-system by default", `"clusterNetwork":"cluster","defaultNetworks":["side"]`, "kube-system"},
		{"configured systemNamespaces", `"clusterNetwork":"cluster","defaultNetworks":["side"],"systemNamespaces":["infra"]`, "infra"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, api, err := fixture{netconf: tc.netconf, podNS: tc.podNS, annotations: map[string]string{
				annotations.NetworksKey:       "kube-system/sys-net",
				annotations.DefaultNetworkKey: "nets/cluster-alt",
			}}.resolve(t)
			if err != nil {
				t.Fatal(err)
			}
			if got := briefs(ds, api.confDir); !reflect.DeepEqual(got, []brief{{"file:@/10-cluster.conflist", "cluster", "eth0"}}) {
				t.Fatalf("delegates = %+v, want only the cluster network", got)
			}
			if len(api.gets) != 0 {
				t.Fatalf("read NADs %v for a pod in a system namespace", api.gets)
			}
		})
	}
}

func TestResolveSystemNamespacesCanBeEmpty(t *testing.T) {
	ds, dir := mustResolve(t, fixture{netconf: `"clusterNetwork":"cluster","systemNamespaces":[]`, podNS: "kube-system",
		annotations: map[string]string{annotations.NetworksKey: "sys-net"}})
	if len(ds) != 2 || ds[1].Network != "kube-system/sys-net" {
		t.Fatalf("delegates = %+v, want the cluster network and sys-net", briefs(ds, dir))
	}
}

func TestResolveNamespaceIsolation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		netconf  string
		networks string
		dflt     string
		deny     string // the network refused, or "" when allowed
	}{
		{"own namespace is allowed", "", "net-a,team-a/net-b", "", ""},
		{"default is a global namespace", "", "default/global-net", "", ""},
		{"multusNamespace is a global namespace", "", "kube-system/side", "", ""},
		{"other namespace is refused", "", "net-a,team-b/net-c", "", "team-b/net-c"},
		{"configured global namespace is allowed", `,"globalNamespaces":"team-b"`, "team-b/net-c", "", ""},
		{"configuring globalNamespaces drops the defaults", `,"globalNamespaces":["team-b"]`, "default/global-net", "", "default/global-net"},
		{"default-network override from another namespace is refused", "", "", "nets/cluster-alt", "nets/cluster-alt"},
		{"default-network override from a global namespace is allowed", `,"globalNamespaces":["nets"]`, "", "nets/cluster-alt", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ann := map[string]string{annotations.NetworksKey: tc.networks}
			if tc.dflt != "" {
				ann[annotations.DefaultNetworkKey] = tc.dflt
			}
			fx := fixture{netconf: `"clusterNetwork":"cluster","namespaceIsolation":true` + tc.netconf, podNS: "team-a", annotations: ann}
			ds, _, err := fx.resolve(t)
			if tc.deny == "" {
				if err != nil {
					t.Fatalf("resolve = %v, want allowed", err)
				}
				return
			}
			checkNetworkError(t, err, tc.deny, "namespace", "namespaceIsolation forbids pods in namespace team-a")
			if ds != nil {
				t.Fatalf("delegates %+v returned with an error", ds)
			}
		})
	}
}

func TestResolveWithoutIsolationAllowsAnyNamespace(t *testing.T) {
	ds, dir := mustResolve(t, fixture{netconf: `"clusterNetwork":"cluster"`, podNS: "team-a",
		annotations: map[string]string{annotations.NetworksKey: "team-b/net-c"}})
	if len(ds) != 2 || ds[1].Network != "team-b/net-c" {
		t.Fatalf("delegates = %+v", briefs(ds, dir))
	}
}

func TestResolveRejectsDuplicateInterfaces(t *testing.T) {
	for _, tc := range []struct {
		name     string
		defaults string
		networks string
		network  string // the network whose interface clashes
		reason   string
	}{
		{"annotation asks for eth0", "", "net-a@eth0", "team-a/net-a", `interface "eth0" is already used by network file:`},
		{"annotation names a defaultNetworks position", `["side"]`, "net-a@net1", "team-a/net-a", `interface "net1" is already used by network kube-system/side`},
		{"named interface takes a later position's name", "", "net-a@net2,net-b", "team-a/net-b", `interface "net2" is already used by network team-a/net-a`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fields := `"clusterNetwork":"cluster"`
			if tc.defaults != "" {
				fields += `,"defaultNetworks":` + tc.defaults
			}
			_, _, err := fixture{netconf: fields, podNS: "team-a", annotations: map[string]string{annotations.NetworksKey: tc.networks}}.resolve(t)
			checkNetworkError(t, err, tc.network, "interface", tc.reason)
		})
	}
}

func TestResolveRejectsDuplicateInterfaceWithinAnnotation(t *testing.T) {
	_, _, err := fixture{netconf: `"clusterNetwork":"cluster"`, podNS: "team-a",
		annotations: map[string]string{annotations.NetworksKey: "net-a@data0,net-b@data0"}}.resolve(t)
	var aerr *annotations.Error
	if !errors.As(err, &aerr) || aerr.Field != "interface" {
		t.Fatalf("error = %v, want an *annotations.Error naming field interface", err)
	}
}

func TestResolveRejectsTwoDefaultRoutes(t *testing.T) {
	_, _, err := fixture{netconf: `"clusterNetwork":"cluster"`, podNS: "team-a", annotations: map[string]string{annotations.NetworksKey: `[
		{"name":"net-a","default-route":["10.1.0.1"]},
		{"name":"net-b","default-route":["10.2.0.1"]}]`}}.resolve(t)
	checkNetworkError(t, err, "team-a/net-b", "default-route", "only one network of a pod may set default-route")
}

func TestResolveNADWithEmptyConfigUsesConfDirConfOfSameName(t *testing.T) {
	ds, dir := mustResolve(t, fixture{netconf: `"clusterNetwork":"cluster"`, podNS: "team-a",
		annotations: map[string]string{annotations.NetworksKey: "fallback"}})
	if got := briefs(ds[1:], dir); !reflect.DeepEqual(got, []brief{{"team-a/fallback", "fallback", "net1"}}) {
		t.Fatalf("delegates = %+v", got)
	}
	if !strings.Contains(string(ds[1].ConfList), `"master":"eth1"`) {
		t.Fatalf("conflist %s is not 20-fallback.conf's", ds[1].ConfList)
	}
}

func TestResolveNADWithEmptyConfigAndNoConfFails(t *testing.T) {
	_, _, err := fixture{netconf: `"clusterNetwork":"cluster"`, podNS: "team-a",
		annotations: map[string]string{annotations.NetworksKey: "orphan"}}.resolve(t)
	checkNetworkError(t, err, "team-a/orphan", "spec.config", `is empty and confDir`)
}

func TestResolveMissingNADIsANetworkError(t *testing.T) {
	for _, tc := range []struct {
		name, netconf, networks, network string
	}{
		{"annotation", `"clusterNetwork":"cluster"`, "net-a,missing", "team-a/missing"},
		{"defaultNetworks", `"clusterNetwork":"cluster","defaultNetworks":["missing"]`, "", "kube-system/missing"},
		{"clusterNetwork", `"clusterNetwork":"nets/missing"`, "", "nets/missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := fixture{netconf: tc.netconf, podNS: "team-a", annotations: map[string]string{annotations.NetworksKey: tc.networks}}.resolve(t)
			checkNetworkError(t, err, tc.network, "", "NetworkAttachmentDefinition not found")
			if !apierrors.IsNotFound(err) {
				t.Fatalf("error %v does not wrap the NotFound", err)
			}
		})
	}
}

func TestResolvePassesOtherAPIErrorsThrough(t *testing.T) {
	dir := writeConfDir(t)
	conf, err := config.Parse([]byte(`{"cniVersion":"1.0.0","clusterNetwork":"cluster","confDir":` + quote(dir) + `}`))
	if err != nil {
		t.Fatal(err)
	}
	forbidden := apierrors.NewForbidden(nadResource, "net-a", errors.New("no RBAC"))
	api := &fakeAPI{nads: standardNADs(), errs: map[string]error{"team-a/net-a": forbidden}}
	r := &resolver{conf: conf, api: api, confs: &confDir{dir: dir},
		pod: &kube.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "p",
			Annotations: map[string]string{annotations.NetworksKey: "net-b,net-a"}}}}
	_, err = r.resolve(context.Background(), "eth0")
	var nerr *NetworkError
	if !apierrors.IsForbidden(err) || errors.As(err, &nerr) {
		t.Fatalf("resolve = %v (%T), want the Forbidden error itself, not a NetworkError", err, err)
	}
}

func TestResolveWithoutAPIRefusesNADClusterNetwork(t *testing.T) {
	for _, tc := range []struct{ ref, network string }{
		{"nets/cluster-alt", "nets/cluster-alt"},
		{"not-in-confdir", "kube-system/not-in-confdir"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			_, api, err := fixture{netconf: `"clusterNetwork":"` + tc.ref + `"`, noAPI: true}.resolve(t)
			checkNetworkError(t, err, tc.network, "", "the caller gave no K8S_POD_NAME")
			if len(api.gets) != 0 {
				t.Fatalf("read NADs %v without an API", api.gets)
			}
		})
	}
}

func TestResolveWithoutPodIgnoresDefaultNetworks(t *testing.T) {
	ds, dir := mustResolve(t, fixture{netconf: `"clusterNetwork":"cluster","defaultNetworks":["side"]`, noAPI: true})
	if len(ds) != 1 {
		t.Fatalf("delegates = %+v, want only the cluster network for a non-Kubernetes caller", briefs(ds, dir))
	}
}

func TestResolveUnreadableClusterFileIsANetworkError(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.conf")
	_, _, err := fixture{netconf: `"clusterNetwork":` + quote(missing), noAPI: true}.resolve(t)
	nerr := checkNetworkError(t, err, "file:"+missing, "", "cannot read the network config file")
	if !errors.Is(nerr, os.ErrNotExist) {
		t.Fatalf("error %v does not wrap os.ErrNotExist", err)
	}
}

func TestResolveReportsAnnotationErrors(t *testing.T) {
	for _, tc := range []struct{ key, value string }{
		{annotations.NetworksKey, `[{"name":"net-a",`},
		{annotations.NetworksKey, "Bad_Name"},
		{annotations.DefaultNetworkKey, "a,b"},
		{annotations.DefaultNetworkKey, "net-a@net1"},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			_, _, err := fixture{netconf: `"clusterNetwork":"cluster"`, podNS: "team-a", annotations: map[string]string{tc.key: tc.value}}.resolve(t)
			var aerr *annotations.Error
			if !errors.As(err, &aerr) || aerr.Annotation != tc.key {
				t.Fatalf("error = %v, want an *annotations.Error for %s", err, tc.key)
			}
		})
	}
}

func TestResolveReportsBrokenNADConfigAsBuildError(t *testing.T) {
	nads := standardNADs()
	nads["team-a/broken"] = `{"cniVersion":"1.0.0","name":"broken","plugins":[]}`
	_, _, err := fixture{netconf: `"clusterNetwork":"cluster"`, podNS: "team-a", nads: nads,
		annotations: map[string]string{annotations.NetworksKey: "broken"}}.resolve(t)
	var berr *delegate.BuildError
	if !errors.As(err, &berr) || berr.Network != "team-a/broken" || berr.Field != "plugins" {
		t.Fatalf("error = %v, want a *delegate.BuildError for team-a/broken field plugins", err)
	}
}

func TestConfDirLookupIgnoresMissingDirectory(t *testing.T) {
	c := &confDir{dir: filepath.Join(t.TempDir(), "absent")}
	if _, ok := c.lookup("cluster"); ok {
		t.Fatal("lookup in a missing directory found a conf")
	}
}

func TestConfDirLookupIndexesByConfNameFirstFileWins(t *testing.T) {
	dir := writeConfDir(t)
	for name, data := range map[string]string{
		"05-first.conf":  `{"name":"dup","type":"a"}`,
		"06-second.conf": `{"name":"dup","type":"b"}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := &confDir{dir: dir}
	for _, tc := range []struct {
		name, file string
	}{
		{"cluster", "10-cluster.conflist"},
		{"fallback", "20-fallback.conf"},
		{"dup", "05-first.conf"},
		{"own", ""},        // meta-cni's own single conf
		{"10-cluster", ""}, // file names are not conf names
	} {
		f, ok := c.lookup(tc.name)
		if tc.file == "" {
			if ok {
				t.Errorf("lookup(%q) found %s, want nothing", tc.name, f.path)
			}
			continue
		}
		if !ok || f.path != filepath.Join(dir, tc.file) {
			t.Errorf("lookup(%q) = %q, %v; want %s", tc.name, f.path, ok, tc.file)
		}
	}
}

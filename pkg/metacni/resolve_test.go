package metacni

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/meta-cni/meta-cni/pkg/annotations"
)

func TestResolveClusterNetworkSources(t *testing.T) {
	abs := filepath.Join(t.TempDir(), "my-cluster.conf")
	if err := os.WriteFile(abs, []byte(`{"cniVersion":"1.0.0","type":"bridge"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	// Multus (k8sclient.getNetDelegate) takes a directory's first conf.
	dir := t.TempDir()
	for name, data := range map[string]string{
		"00-meta-cni.conflist": `{"cniVersion":"1.0.0","name":"meta","plugins":[{"type":"meta-cni"}]}`,
		"05-b.conf":            `{"cniVersion":"1.0.0","name":"first-in-dir","type":"bridge"}`,
		"10-a.conflist":        `{"cniVersion":"1.0.0","name":"second-in-dir","plugins":[{"type":"ptp"}]}`,
		"01-notes.txt":         `not a conf`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		fx   fixture
		want brief
	}{
		{"absolute directory: its first conf in name order, skipping meta-cni's own",
			fixture{netconf: `"clusterNetwork":` + quote(dir), podNS: "default"},
			brief{"file:" + filepath.Join(dir, "05-b.conf"), "first-in-dir", "eth0"}},
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
		{"inline delegate",
			fixture{netconf: `"delegates":[{"cniVersion":"1.0.0","name":"inline","type":"flannel"}]`, noAPI: true},
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

// In Multus's inline form every entry of delegates is attached, in order,
// to every pod (types.LoadNetConf, multus.CmdAdd): the first on eth0, the
// others on net1..; the pod's networks follow, and defaultNetworks, which
// Multus reads only with clusterNetwork, do not apply.
func TestResolveInlineDelegatesAreAllAttachedBeforeThePodsNetworks(t *testing.T) {
	inline := `"delegates":[{"cniVersion":"1.0.0","name":"flannel","type":"flannel"},` +
		`{"cniVersion":"1.0.0","name":"inline-b","type":"macvlan"},{"cniVersion":"1.0.0","type":"ipvlan"}],"defaultNetworks":["side"]`
	base := []brief{{"delegates[0]", "flannel", "eth0"}, {"delegates[1]", "inline-b", "net1"}, {"delegates[2]", "delegate-2", "net2"}}
	for _, tc := range []struct {
		name string
		fx   fixture
		want []brief
	}{
		{"pod with a network", fixture{netconf: inline, podNS: "team-a", annotations: map[string]string{annotations.NetworksKey: "net-a"}},
			append(base, brief{"team-a/net-a", "net-a", "net3"})},
		{"pod in a system namespace", fixture{netconf: inline, podNS: "kube-system"}, base},
		{"caller that is not Kubernetes", fixture{netconf: inline, noAPI: true}, base},
		{"default-network replaces only the first", fixture{netconf: inline, podNS: "team-a",
			annotations: map[string]string{annotations.DefaultNetworkKey: "nets/cluster-alt"}},
			append([]brief{{"nets/cluster-alt", "cluster-alt", "eth0"}}, base[1:]...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, api, err := tc.fx.resolve(t)
			if err != nil {
				t.Fatal(err)
			}
			if got := briefs(ds, ""); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("delegates = %+v\nwant %+v", got, tc.want)
			}
			for _, get := range api.gets {
				if get == "kube-system/side" {
					t.Fatal("defaultNetworks read although clusterNetwork is empty")
				}
			}
		})
	}
}

// Multus (k8sclient.getNetDelegate) looks a bare name up as a NAD in
// multusNamespace first, and falls back to the conf of that name in
// confDir when the NAD cannot be had, whatever the reason.
func TestResolveNameOfBothANADAndAConfIsTheNAD(t *testing.T) {
	nads := standardNADs()
	nads["kube-system/cluster"] = `{"cniVersion":"1.0.0","name":"cluster-nad","type":"bridge"}`
	for _, tc := range []struct {
		name   string
		noAPI  bool
		apiErr error
		want   brief
	}{
		{"the NAD wins", false, nil, brief{"kube-system/cluster", "cluster-nad", "eth0"}},
		{"the conf when the NAD cannot be read", false, apierrors.NewInternalError(errors.New("etcd down")), brief{"file:@/10-cluster.conflist", "cluster", "eth0"}},
		{"the conf without an API", true, nil, brief{"file:@/10-cluster.conflist", "cluster", "eth0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := fixture{netconf: `"clusterNetwork":"cluster"`, nads: nads, noAPI: tc.noAPI}
			if !tc.noAPI {
				fx.podNS = "default"
			}
			fx.apiErrs = map[string]error{"kube-system/cluster": tc.apiErr}
			ds, api, err := fx.resolve(t)
			if err != nil {
				t.Fatal(err)
			}
			if got := briefs(ds, api.confDir); !reflect.DeepEqual(got, []brief{tc.want}) {
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
		{"bare name is in multusNamespace, as in Multus, not the pod's namespace", "sys-net", brief{"kube-system/sys-net", "sys-net", "eth0"}},
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

func TestResolveGivesTheRuntimesRuntimeConfigToEveryDelegate(t *testing.T) {
	runtime := `"runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}],"mac":"02:00:00:00:00:aa"}`
	ds, _ := mustResolve(t, fixture{netconf: `"clusterNetwork":"cluster",` + runtime, podNS: "team-a",
		annotations: map[string]string{annotations.NetworksKey: `[{"name":"net-a","mac":"02:00:00:00:00:05"},{"name":"net-b"}]`}})
	ports := `"portMappings":[{"containerPort":80,"hostPort":8080,"protocol":"tcp"}]`
	for i, want := range []string{
		`{"mac":"02:00:00:00:00:aa",` + ports + `}`,
		`{"mac":"02:00:00:00:00:05",` + ports + `}`,
		`{"mac":"02:00:00:00:00:aa",` + ports + `}`,
	} {
		got, err := json.Marshal(ds[i].CapabilityArgs)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s capability args = %s\nwant %s", ds[i].IfName, got, want)
		}
	}
	// A caller that is not Kubernetes gets its runtimeConfig to the cluster network too.
	ds, _, err := fixture{netconf: `"clusterNetwork":"cluster",` + runtime, noAPI: true}.resolve(t)
	if err != nil || len(ds) != 1 || ds[0].CapabilityArgs["mac"] != "02:00:00:00:00:aa" {
		t.Fatalf("resolve without a pod = %+v, %v; want the runtime's runtimeConfig on the cluster network", ds, err)
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

// Multus v4.2.3 skips only defaultNetworks for a pod in systemNamespaces
// (k8sclient.GetDefaultNetworks); the pod's own networks and
// default-network annotations count (TryLoadPodDelegates,
// tryLoadK8sPodDefaultNetwork).
func TestResolveSystemNamespacesSkipOnlyDefaultNetworks(t *testing.T) {
	for _, tc := range []struct {
		name, netconf, podNS string
		annotations          map[string]string
		want                 []brief
	}{
		{"kube-system by default", `"clusterNetwork":"cluster","defaultNetworks":["side"]`, "kube-system",
			map[string]string{annotations.NetworksKey: "kube-system/sys-net"},
			[]brief{{"file:@/10-cluster.conflist", "cluster", "eth0"}, {"kube-system/sys-net", "sys-net", "net1"}}},
		{"configured systemNamespaces", `"clusterNetwork":"cluster","defaultNetworks":["side"],"systemNamespaces":["infra"]`, "infra",
			map[string]string{annotations.NetworksKey: "kube-system/sys-net"},
			[]brief{{"file:@/10-cluster.conflist", "cluster", "eth0"}, {"kube-system/sys-net", "sys-net", "net1"}}},
		{"default-network override", `"clusterNetwork":"cluster","defaultNetworks":["side"]`, "kube-system",
			map[string]string{annotations.NetworksKey: "sys-net@data", annotations.DefaultNetworkKey: "nets/cluster-alt"},
			[]brief{{"nets/cluster-alt", "cluster-alt", "eth0"}, {"kube-system/sys-net", "sys-net", "data"}}},
		{"no annotations", `"clusterNetwork":"cluster","defaultNetworks":["side"]`, "kube-system", nil,
			[]brief{{"file:@/10-cluster.conflist", "cluster", "eth0"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, api, err := fixture{netconf: tc.netconf, podNS: tc.podNS, annotations: tc.annotations}.resolve(t)
			if err != nil {
				t.Fatal(err)
			}
			if got := briefs(ds, api.confDir); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("delegates = %+v\nwant %+v", got, tc.want)
			}
			for _, get := range api.gets {
				if get == "kube-system/side" {
					t.Fatalf("read defaultNetworks' NAD %s for a pod in a system namespace", get)
				}
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

package metacni

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meta-cni/meta-cni/pkg/annotations"
	"github.com/meta-cni/meta-cni/pkg/config"
	"github.com/meta-cni/meta-cni/pkg/delegate"
	"github.com/meta-cni/meta-cni/pkg/kube"
)

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
		{"multusNamespace is not a global namespace by default, as in Multus", "", "kube-system/side", "", "kube-system/side"},
		{"multusNamespace named in globalNamespaces is allowed", `,"globalNamespaces":"default,kube-system"`, "kube-system/side", "", ""},
		{"other namespace is refused", "", "net-a,team-b/net-c", "", "team-b/net-c"},
		{"configured global namespace is allowed", `,"globalNamespaces":"team-b"`, "team-b/net-c", "", ""},
		{"configuring globalNamespaces drops the defaults", `,"globalNamespaces":["team-b"]`, "default/global-net", "", "default/global-net"},
		{"default-network override from another namespace is refused", "", "", "nets/cluster-alt", "nets/cluster-alt"},
		{"default-network override from a global namespace is allowed", `,"globalNamespaces":["nets"]`, "", "nets/cluster-alt", ""},
		{"default-network override from multusNamespace is allowed", `,"multusNamespace":"nets"`, "", "cluster-alt", ""},
		{"default-network override naming multusNamespace is allowed", "", "", "kube-system/sys-net", ""},
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
		name, netconf, networks, network, field, reason string
	}{
		{"annotation", `"clusterNetwork":"cluster"`, "net-a,missing", "team-a/missing", "", "NetworkAttachmentDefinition not found"},
		{"defaultNetworks", `"clusterNetwork":"cluster","defaultNetworks":["missing"]`, "", "kube-system/missing", "", "NetworkAttachmentDefinition not found"},
		// Not the pod's mistake: the message says which conf to fix.
		{"clusterNetwork", `"clusterNetwork":"nets/missing"`, "", "nets/missing", "clusterNetwork", "fix clusterNetwork in meta-cni's conf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := fixture{netconf: tc.netconf, podNS: "team-a", annotations: map[string]string{annotations.NetworksKey: tc.networks}}.resolve(t)
			checkNetworkError(t, err, tc.network, tc.field, tc.reason)
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

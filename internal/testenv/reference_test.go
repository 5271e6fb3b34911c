package testenv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

func TestMultusConfFollowsTheThinEntrypointForEachCNIVersion(t *testing.T) {
	cases := []struct {
		name, cluster, wantFile string
		wantCaps                map[string]any
	}{
		{"1.0.0 conflist with portmap", `{"cniVersion": "1.0.0", "name": "cbr0", "plugins": [{"type": "bridge"},
			{"type": "portmap", "capabilities": {"portMappings": true}}]}`, "00-multus.conflist", map[string]any{"portMappings": true}},
		{"0.3.1 conf", `{"cniVersion": "0.3.1", "name": "cbr0", "type": "bridge"}`, "00-multus.conf", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cluster := filepath.Join(dir, "net.d", "10-cbr0.conflist")
			if err := os.MkdirAll(filepath.Dir(cluster), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cluster, []byte(tc.cluster), 0o644); err != nil {
				t.Fatal(err)
			}
			n := ReferenceNode{Name: "n1", BinDir: filepath.Join(dir, "bin"), ConfDir: filepath.Dir(cluster),
				CacheDir: filepath.Join(dir, "cache"), ClusterNetwork: cluster}
			path, err := writeMultusConf(n, "/k/multus.kubeconfig")
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Base(path) != tc.wantFile {
				t.Errorf("wrote %s, want %s", filepath.Base(path), tc.wantFile)
			}
			if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("mode of %s: %v %v, want 0600 as Multus writes it", path, st.Mode(), err)
			}
			conf := readJSON(t, path)
			plugin := conf
			if plugins, ok := conf["plugins"].([]any); ok {
				plugin = plugins[0].(map[string]any)
			}
			if conf["name"] != "multus-cni-network" || plugin["type"] != "multus" || plugin["kubeconfig"] != "/k/multus.kubeconfig" {
				t.Errorf("conf %v: want name multus-cni-network, type multus and the kubeconfig", conf)
			}
			if plugin["cniDir"] != n.CacheDir || plugin["binDir"] != n.BinDir || plugin["cniConf"] != filepath.Join(dir, "multus", "net.d") {
				t.Errorf("conf %v: Multus's host paths are not the node's", plugin)
			}
			caps, _ := plugin["capabilities"].(map[string]any)
			if !reflect.DeepEqual(caps, tc.wantCaps) && !(len(caps) == 0 && tc.wantCaps == nil) {
				t.Errorf("capabilities %v, want %v", caps, tc.wantCaps)
			}
			var master map[string]any
			_ = json.Unmarshal([]byte(tc.cluster), &master)
			if delegates, _ := plugin["delegates"].([]any); len(delegates) != 1 || !reflect.DeepEqual(delegates[0], master) {
				t.Errorf("delegates %v, want the cluster network's conf alone", plugin["delegates"])
			}
		})
	}
}

func TestWhereaboutsIPAMNamesTheKubeconfigAndTheFlatFileBesideIt(t *testing.T) {
	dir := t.TempDir()
	conf, err := writeWhereaboutsConf(dir, filepath.Join(dir, "whereabouts.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	ipam := WhereaboutsIPAM("10.1.0.0/24", filepath.Join(dir, "whereabouts.kubeconfig"))
	if ipam["type"] != "whereabouts" || ipam["range"] != "10.1.0.0/24" || ipam["configuration_path"] != conf {
		t.Errorf("ipam %v: want type, range and the flat file %s", ipam, conf)
	}
	flat := readJSON(t, conf)
	if kc, _ := flat["kubernetes"].(map[string]any); kc["kubeconfig"] != filepath.Join(dir, "whereabouts.kubeconfig") || flat["datastore"] != "kubernetes" {
		t.Errorf("flat file %v does not name the kubeconfig", flat)
	}
}

// allows reports whether rules grant verb on resource in group.
func allows(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		in := func(list []string, v string) bool { return slices.Contains(list, v) || slices.Contains(list, "*") }
		if slices.Contains(r.APIGroups, group) && in(r.Resources, resource) && in(r.Verbs, verb) {
			return true
		}
	}
	return false
}

func TestReferenceClusterRolesAreTheOnesTheirManifestsGrant(t *testing.T) {
	wb, err := WhereaboutsRBACRules()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range [][3]string{{"whereabouts.cni.cncf.io", "ippools", "update"},
		{"whereabouts.cni.cncf.io", "overlappingrangeipreservations", "delete"}, {"coordination.k8s.io", "leases", "create"}, {"", "pods", "list"}} {
		if !allows(wb, want[0], want[1], want[2]) {
			t.Errorf("Whereabouts' ClusterRole does not allow %s on %s/%s: %+v", want[2], want[0], want[1], wb)
		}
	}
	if allows(wb, "", "pods", "update") {
		t.Errorf("Whereabouts' ClusterRole allows pod updates, which its manifest does not grant")
	}
	multus, err := MultusRBACRules()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range [][3]string{{"", "pods/status", "update"}, {"k8s.cni.cncf.io", "network-attachment-definitions", "get"}, {"", "events", "create"}} {
		if !allows(multus, want[0], want[1], want[2]) {
			t.Errorf("Multus's ClusterRole does not allow %s on %s/%s: %+v", want[2], want[0], want[1], multus)
		}
	}
}

func TestReferenceBinariesAreLinkedWholeAndRunnable(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "bin", "multus")
	for range 2 { // a second install replaces the first
		if err := linkOrCopyAtomic(src, dst); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := os.Stat(src)
	b, err := os.Stat(dst)
	if err != nil || !os.SameFile(a, b) || b.Mode().Perm() != 0o755 {
		t.Errorf("dst %v (%v): want a hard link to src, mode 0755", b, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(dst)); len(entries) != 1 {
		t.Errorf("bin dir holds %d entries, want only multus (no temporary file left)", len(entries))
	}
}

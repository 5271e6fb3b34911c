package metacni

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/meta-cni/meta-cni/pkg/delegate"
)

// confDirSeeds are files found in conf dirs: cluster CNIs' confs, the
// users' macvlan confs, meta-cni's own conflist, and broken or odd ones.
var confDirSeeds = []string{
	`{"cniVersion":"1.0.0","name":"cbr0","plugins":[{"type":"bridge","bridge":"cni0","ipam":{"type":"host-local","subnet":"10.244.0.0/24"}},{"type":"portmap","capabilities":{"portMappings":true}}]}`,
	`{"cniVersion":"0.3.1","name":"k8s-pod-network","plugins":[{"type":"calico","ipam":{"type":"calico-ipam"}},{"type":"bandwidth","capabilities":{"bandwidth":true}}]}`,
	`{"name":"cni0","cniVersion":"0.3.1","plugins":[{"name":"mymacvlan","type":"macvlan","master":"enp5s0f0","ipam":{"type":"etcd","subnet":"10.10.20.0/24"}},{"name":"ptp","type":"veth-to-host","hostInterface":"enp5s0f0"}]}`,
	`{"cniVersion":"0.3.0","name":"whereaboutsexample","type":"macvlan","master":"ens3","mode":"bridge","ipam":{"type":"whereabouts","range":"192.168.91.100-192.168.91.110/24"}}`,
	`{"cniVersion":"1.0.0","name":"meta-cni","plugins":[{"type":"meta-cni","kubeconfig":"/etc/cni/net.d/meta-cni.d/meta-cni.kubeconfig","clusterNetwork":"/etc/cni/net.d/10-calico.conflist"}]}`,
	`{"name":"n","plugins":[{"type":"bridge"},{"type":"meta-cni"}]}`,
	`{"name":"n","plugins":[{"type":"meta-cni"}],"Plugins":[{"type":"bridge"}]}`,
	`{"name":"n","type":"bridge","Plugins":[{"type":"meta-cni"}]}`,
	`{"name":"n","plugins":[{"type":"bridge","Type":"meta-cni"}]}`,
	`{"name":"n","plugins":[{"type":"meta-cni"}],"plugins":[{"type":"bridge"}]}`,
	`{"name":"n","type":"meta-cni","type":"bridge"}`,
	`{"Name":"n","type":"bridge"}`,
	`{"name":5,"type":"bridge"}`,
	`{"name":"../x","type":"bridge"}`,
	`{"cniVersion":"1.0.0","na`, `null`, `[]`, ``,
}

// runsMetaCNI says whether an ADD delegating to data would call meta-cni,
// read the way it is run: Build's list, libcni's plugins. ok is false when
// Build refuses it, so nothing runs.
func runsMetaCNI(t *testing.T, data []byte) (runs, ok bool) {
	t.Helper()
	d, err := delegate.Build("file:x", "x", "eth0", data, version.Current(), delegate.Request{})
	if err != nil {
		return false, false
	}
	list, err := libcni.ConfListFromBytes(d.ConfList)
	if err != nil {
		t.Fatalf("libcni refuses what Build made of %q: %v", data, err)
	}
	for _, p := range list.Plugins {
		runs = runs || p.Network.Type == "meta-cni"
	}
	return runs, true
}

// FuzzConfDir reads a conf dir holding any file an operator or another CNI
// can drop there, beside a good conf: a file from which an ADD would run
// meta-cni is never delegated to (lookup by name, or as the directory's
// first conf), and libcni, given a conflist's bytes as they are, agrees;
// any other JSON object is found by the name libcni reads, with its bytes
// unchanged; a file that is no JSON fails dirSource naming the file.
func FuzzConfDir(f *testing.F) {
	for _, s := range confDirSeeds {
		f.Add([]byte(s))
	}
	// One directory per fuzzing process, its first file rewritten for each
	// input: a directory made and removed per input starves the fuzzer.
	dir := f.TempDir()
	good := []byte(`{"cniVersion":"1.0.0","name":"good","type":"bridge"}`)
	if err := os.WriteFile(filepath.Join(dir, "20-good.conf"), good, 0o600); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, "10-x.conflist"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		runs, built := runsMetaCNI(t, data)
		var top map[string]json.RawMessage
		isJSON := json.Unmarshal(data, &top) == nil
		if _, isList := top["plugins"]; isList && built {
			if list, err := libcni.ConfListFromBytes(data); err == nil {
				direct := false
				for _, p := range list.Plugins {
					direct = direct || p.Network.Type == "meta-cni"
				}
				if direct != runs {
					t.Fatalf("%q: libcni runs meta-cni %v from the bytes, %v from Build's list", data, direct, runs)
				}
			}
		}
		var name string
		_ = json.Unmarshal(top["name"], &name)

		confs := &confDir{dir: dir}
		f, found := confs.lookup(name)
		src, srcErr := dirSource(dir)
		switch {
		case runs:
			if found && f.path == filepath.Join(dir, "10-x.conflist") {
				t.Fatalf("%q runs meta-cni and is found by its name %q", data, name)
			}
			if srcErr != nil || src.network != "file:"+filepath.Join(dir, "20-good.conf") {
				t.Fatalf("%q runs meta-cni; the directory gives %+v, %v, want the next conf", data, src, srcErr)
			}
		case !isJSON:
			checkNetworkError(t, srcErr, "file:"+filepath.Join(dir, "10-x.conflist"), "", "cannot read the first network config")
		default:
			if srcErr != nil || !bytes.Equal(src.config, data) {
				t.Fatalf("%q: the directory gives %+v, %v, want the file", data, src, srcErr)
			}
			if name != "" && name != "good" && (!found || !bytes.Equal(f.data, data)) {
				t.Fatalf("%q not found by its name %q", data, name)
			}
		}
		if g, ok := confs.lookup("good"); !ok || !bytes.Equal(g.data, good) && !bytes.Equal(g.data, data) {
			t.Fatalf("the good conf is lost beside %q", data)
		}
	})
}

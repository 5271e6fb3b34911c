package delegate

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/version"
)

// buildSeeds are NAD spec.configs as users write them, and broken ones.
var buildSeeds = []string{
	`{"cniVersion":"0.3.0","name":"whereaboutsexample","type":"macvlan","master":"ens3","mode":"bridge","ipam":{"type":"whereabouts","range":"192.168.91.100-192.168.91.110/24"}}`,
	`{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"macvlan","master":"eth0","ipam":{"type":"etcd-ipam"}},{"type":"host-route","args":{"cni":{"x":1}}}]}`,
	`{"type":"bridge","args":"not an object"}`,
	`{"type":"bridge","args":{"cni":["not","an","object"]}}`,
	`{"name":"../../etc","type":"bridge"}`,
	`{"cniVersion":"x","type":"bridge"}`,
	`{"plugins":{}}`,
	`{"plugins":[]}`,
	`{"plugins":[null]}`,
	`{"plugins":[{"type":""}]}`,
	`{"name":"a","name":"b","type":"ptp"}`,
	`[]`,
	`null`,
}

// FuzzBuild feeds the NAD config merge arbitrary configs and cni-args: what
// it accepts must be a conflist libcni loads, named by a name safe for
// libcni's cache file names, with a CNI version, and with every cni-args
// key in every plugin's args.cni.
func FuzzBuild(f *testing.F) {
	for _, s := range buildSeeds {
		f.Add([]byte(s), "net-a", "1.0.0", []byte(`{"vlan":12345678901234567890,"x":[1,{"y":null}]}`))
		f.Add([]byte(s), "", "", []byte(`{}`))
	}
	f.Fuzz(func(t *testing.T, config []byte, defaultName, cniVersion string, cniArgs []byte) {
		if _, _, _, err := version.ParseVersion(cniVersion); err != nil || cniVersion == "" {
			cniVersion = "1.0.0" // Build is given the NetConf's cniVersion, which config.Parse checked
		}
		var args map[string]any
		if json.Unmarshal(cniArgs, &args) != nil {
			args = nil
		}
		argsCopy := jsonCopy(t, args)
		d, err := Build("ns/net", defaultName, "net1", config, cniVersion, Request{CNIArgs: args})
		if err != nil {
			if be, ok := err.(*BuildError); ok && (be.Field == "" || be.Reason == "" || be.Network != "ns/net") {
				t.Fatalf("build error %+v does not name network, field and reason", be)
			}
			return
		}
		if !reflect.DeepEqual(jsonCopy(t, args), argsCopy) {
			t.Fatalf("Build changed the request's cni-args")
		}
		if !validNetworkName(d.Name) || d.Network != "ns/net" || d.IfName != "net1" {
			t.Fatalf("delegate %+v", d)
		}
		list, err := libcni.ConfListFromBytes(d.ConfList)
		if err != nil {
			t.Fatalf("libcni refuses the built conflist %s: %v", d.ConfList, err)
		}
		if list.Name != d.Name || list.CNIVersion == "" || len(list.Plugins) == 0 {
			t.Fatalf("conflist %s: name %q, version %q, %d plugins", d.ConfList, list.Name, list.CNIVersion, len(list.Plugins))
		}
		for i, p := range list.Plugins {
			if p.Network.Type == "" {
				t.Fatalf("plugin %d of %s has no type", i, d.ConfList)
			}
			if len(args) == 0 {
				continue
			}
			var plugin struct {
				Args struct {
					CNI map[string]any `json:"cni"`
				} `json:"args"`
			}
			if err := json.Unmarshal(p.Bytes, &plugin); err != nil {
				t.Fatalf("plugin %d: %v", i, err)
			}
			for k, v := range jsonCopy(t, args).(map[string]any) {
				if got, ok := plugin.Args.CNI[k]; !ok || !reflect.DeepEqual(got, v) {
					t.Fatalf("plugin %d args.cni[%q] = %v, want %v", i, k, got, v)
				}
			}
		}
	})
}

// jsonCopy is v as encoding/json reads it back, to compare values that
// went through a marshal.
func jsonCopy(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzRecordDecode feeds the attachment record decoder arbitrary file
// content: a record it reads must survive being written (as Write encodes
// it) and read again unchanged, since DEL and CHECK replay exactly what the
// record says. The store's files are exercised by record_test.go; here
// only the bytes, since a fsync per input would leave the fuzzer idle.
func FuzzRecordDecode(f *testing.F) {
	seed, err := json.Marshal(sampleRecord("c1"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"containerID":"c1","delegates":[{"confList":"not json"}]}`))
	f.Add([]byte(`{"containerID":"../../etc/passwd","delegates":null}`))
	f.Add([]byte(`{"containerID":"c1","args":[["a"]],"delegates":[{"gateways":["x"]}]}`))
	f.Add([]byte(`{"delegates":[{"confList":{"plugins":[]},"capabilityArgs":{"a":1e400}}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeRecord(data)
		if err != nil {
			return
		}
		stored, err := encodeRecord(r)
		if err != nil {
			t.Fatalf("a record the store read does not encode again: %v", err)
		}
		again, err := decodeRecord(stored)
		if err != nil {
			t.Fatalf("an encoded record %s does not decode again: %v", stored, err)
		}
		// Compared as the store writes them: a confList is kept as raw
		// JSON, which may hold numbers no float64 holds (1e700).
		if restored, err := encodeRecord(again); err != nil || !bytes.Equal(restored, stored) {
			t.Fatalf("record changed on a decode and encode:\n%s\n%s (%v)", stored, restored, err)
		}
	})
}

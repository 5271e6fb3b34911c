package annotations

import (
	"errors"
	"strings"
	"testing"
)

// networksSeeds are the user examples plus inputs that reach every branch.
var networksSeeds = []string{
	"",
	"macvlan-conf",
	"ns1/net-a@eth5, net-b",
	`[{"name":"macvlan-conf","interface":"net9","ips":["192.168.1.205/24"],"mac":"c2:b0:57:49:47:f1","default-route":["192.168.1.1"]}]`,
	"net-a,,net-b",
	"a/b/c",
	"net-a@eth1@eth2",
	"net-a@net1, net-b@net1",
	"net-a@averyveryverylongname",
	`{"name":"net-a"}`,
	`[]`,
	`[null]`,
	`[{"name":"net-a","namespace":"ns1","interface":"eth0"}]`,
	`[{"name":"net-a","cni-args":{"vlan":12345678901234567890,"x":[1,{"y":null}]}}]`,
	`[{"name":"net-a","portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"TCP","hostIP":"10.0.0.1"}]}]`,
	`[{"name":"net-a","portMappings":[{"containerPort":1e3}]}]`,
	`[{"name":"net-a","bandwidth":{"ingressRate":1,"ingressBurst":2,"egressRate":3,"egressBurst":4}}]`,
	`[{"name":"net-a","ips":["fd00::1/64",null]}]`,
	`[{"name":"a","interface":"net1"},{"name":"b","interface":"net1"}]`,
	"[{\"name\":\"net-a\",\"interface\":\"eth\\u00a00\"}]",
	"net-a@\xc3\xa0",
}

// defaultNetworkSeeds are the user example plus each accepted form.
var defaultNetworkSeeds = []string{
	"",
	"kube-system/underlay-default",
	"underlay@eth0",
	"underlay@net1",
	"a,b",
	`{"name":"underlay","namespace":"kube-system"}`,
	`[{"name":"underlay"}]`,
	`[{"name":"a"},{"name":"b"}]`,
	`{"name":"a","ips":["10.0.0.1"]}`,
	`{"name":`,
}

// checkFuzzError asserts that every failure is a well-formed *Error.
func checkFuzzError(t *testing.T, err error, annotation string) {
	t.Helper()
	var aerr *Error
	if !errors.As(err, &aerr) || aerr.Annotation != annotation || aerr.Entry < -1 || aerr.Reason == "" {
		t.Fatalf("error %#v is not a well-formed *Error for %s", err, annotation)
	}
	if !strings.HasPrefix(err.Error(), "annotation "+annotation) {
		t.Fatalf("message %q does not start with the annotation", err.Error())
	}
}

func FuzzParseNetworks(f *testing.F) {
	for _, s := range networksSeeds {
		f.Add(s, "pods")
	}
	f.Add("net-a", "")
	f.Add("net-a", "Bad_NS")
	f.Fuzz(func(t *testing.T, value, podNamespace string) {
		sels, err := ParseNetworks(value, podNamespace)
		if err != nil {
			if sels != nil {
				t.Fatalf("selections %#v returned with error %v", sels, err)
			}
			checkFuzzError(t, err, NetworksKey)
			return
		}
		seen := map[string]bool{}
		for i, s := range sels {
			if r := networkNameProblem(s.Name); r != "" {
				t.Fatalf("entry %d name %q %s", i, s.Name, r)
			}
			if r := namespaceProblem(s.Namespace); r != "" {
				t.Fatalf("entry %d namespace %q %s", i, s.Namespace, r)
			}
			if s.Interface == "" {
				continue
			}
			if err := ValidateInterfaceName(s.Interface); err != nil {
				t.Fatalf("entry %d: %v", i, err)
			}
			if seen[s.Interface] {
				t.Fatalf("entry %d repeats interface %q", i, s.Interface)
			}
			seen[s.Interface] = true
		}
	})
}

func FuzzParseDefaultNetwork(f *testing.F) {
	for _, s := range defaultNetworkSeeds {
		f.Add(s, "pods")
	}
	f.Add("underlay", "")
	f.Fuzz(func(t *testing.T, value, podNamespace string) {
		ns, name, err := ParseDefaultNetwork(value, podNamespace)
		if err != nil {
			if ns != "" || name != "" {
				t.Fatalf("%q, %q returned with error %v", ns, name, err)
			}
			checkFuzzError(t, err, DefaultNetworkKey)
			return
		}
		if name == "" && ns == "" {
			if strings.TrimSpace(value) != "" {
				t.Fatalf("non-empty value %q gave no network and no error", value)
			}
			return
		}
		if r := networkNameProblem(name); r != "" {
			t.Fatalf("name %q %s", name, r)
		}
		if r := namespaceProblem(ns); r != "" {
			t.Fatalf("namespace %q %s", ns, r)
		}
	})
}

package annotations

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// wantError is the part of an *Error a test pins down.
type wantError struct {
	entry  int
	field  string
	reason string // substring of Reason
}

// checkError fails unless err is an *Error for annotation matching want.
func checkError(t *testing.T, err error, annotation string, want wantError) {
	t.Helper()
	var aerr *Error
	if !errors.As(err, &aerr) {
		t.Fatalf("error = %v (%T), want *Error", err, err)
	}
	if aerr.Annotation != annotation || aerr.Entry != want.entry || aerr.Field != want.field || !strings.Contains(aerr.Reason, want.reason) {
		t.Fatalf("error = %#v\nwant annotation %q entry %d field %q reason containing %q", aerr, annotation, want.entry, want.field, want.reason)
	}
	msg := err.Error()
	if msg != strings.ToLower(msg[:1])+msg[1:] || !strings.HasPrefix(msg, "annotation "+annotation) {
		t.Fatalf("message %q must be lower-case and start with the annotation", msg)
	}
}

func TestParseNetworksCommaForm(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value string
		want  []NetworkSelection
	}{
		{"empty value asks for no networks", "", nil},
		{"blank value asks for no networks", " \t\n", nil},
		{"bare name takes the pod namespace", "macvlan-conf",
			[]NetworkSelection{{Name: "macvlan-conf", Namespace: "pods"}}},
		{"namespace, interface and whitespace around entries", "ns1/net-a@eth5, net-b",
			[]NetworkSelection{{Name: "net-a", Namespace: "ns1", Interface: "eth5"}, {Name: "net-b", Namespace: "pods"}}},
		{"interface without namespace", "net-a@net7",
			[]NetworkSelection{{Name: "net-a", Namespace: "pods", Interface: "net7"}}},
		{"namespace without interface", "other/net-a",
			[]NetworkSelection{{Name: "net-a", Namespace: "other"}}},
		{"eth0 may be named; the caller decides about collisions", "net-a@eth0",
			[]NetworkSelection{{Name: "net-a", Namespace: "pods", Interface: "eth0"}}},
		{"dotted subdomain name", "net.a.example",
			[]NetworkSelection{{Name: "net.a.example", Namespace: "pods"}}},
		{"same network twice without interfaces", "net-a,net-a",
			[]NetworkSelection{{Name: "net-a", Namespace: "pods"}, {Name: "net-a", Namespace: "pods"}}},
		{"tabs and newlines around entries", "\tnet-a ,\n net-b@net2\n",
			[]NetworkSelection{{Name: "net-a", Namespace: "pods"}, {Name: "net-b", Namespace: "pods", Interface: "net2"}}},
		{"null is just a network name in the comma form", "null",
			[]NetworkSelection{{Name: "null", Namespace: "pods"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseNetworks(tc.value, "pods")
			if err != nil {
				t.Fatalf("ParseNetworks(%q) error: %v", tc.value, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseNetworks(%q) =\n%#v\nwant\n%#v", tc.value, got, tc.want)
			}
		})
	}
}

func TestParseNetworksCommaFormRejectsInvalidEntries(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value string
		want  wantError
	}{
		{"empty entry in the middle", "net-a,,net-b", wantError{1, "", "is empty"}},
		{"trailing comma", "net-a,", wantError{1, "", "is empty"}},
		{"leading comma", ",net-a", wantError{0, "", "is empty"}},
		{"only commas", " , ", wantError{0, "", "is empty"}},
		{"two slashes", "a/b/c", wantError{0, "name", "more than one '/'"}},
		{"two ats", "net-a@eth1@eth2", wantError{0, "interface", "more than one '@'"}},
		{"empty namespace", "/net-a", wantError{0, "namespace", "is empty"}},
		{"empty name after namespace", "ns1/", wantError{0, "name", "is empty"}},
		{"empty name before interface", "@eth1", wantError{0, "name", "is empty"}},
		{"empty interface", "net-a@", wantError{0, "interface", "is empty"}},
		{"upper-case name", "Macvlan", wantError{0, "name", "not a valid network name"}},
		{"underscore in name", "net_a", wantError{0, "name", "not a valid network name"}},
		{"name too long", strings.Repeat("a", 254), wantError{0, "name", "not a valid network name"}},
		{"dotted namespace", "a.b/net-a", wantError{0, "namespace", "not a valid namespace"}},
		{"upper-case namespace", "NS/net-a", wantError{0, "namespace", "not a valid namespace"}},
		{"namespace too long", strings.Repeat("n", 64) + "/net-a", wantError{0, "namespace", "not a valid namespace"}},
		{"interface too long in second entry", "net-a, net-b@averyveryverylongname", wantError{1, "interface", "longer than 15 characters"}},
		{"slash after at lands in the interface", "net-a@eth1/x", wantError{0, "interface", "contains '/'"}},
		{"colon in interface", "net-a@eth0:1", wantError{0, "interface", "contains ':'"}},
		{"dot interface", "net-a@.", wantError{0, "interface", "not a valid interface name"}},
		{"whitespace inside an entry", "ns1/ net-a", wantError{0, "name", "not a valid network name"}},
		{"duplicate interface reports the second", "net-a@net1, net-b, net-c@net1", wantError{2, "interface", "already used by entry 0"}},
		{"duplicate eth0", "net-a@eth0,net-b@eth0", wantError{1, "interface", "already used by entry 0"}},
		{"single json object is not a list", `{"name":"net-a"}`, wantError{-1, "", "must be a list"}},
		{"quoted name", `"net-a"`, wantError{0, "name", "not a valid network name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseNetworks(tc.value, "pods")
			if err == nil {
				t.Fatalf("ParseNetworks(%q) = %#v, want error", tc.value, got)
			}
			if got != nil {
				t.Errorf("ParseNetworks(%q) returned selections %#v with an error", tc.value, got)
			}
			checkError(t, err, NetworksKey, tc.want)
		})
	}
}

func TestParseNetworksNamesTheExactFieldInTheMessage(t *testing.T) {
	_, err := ParseNetworks("net-a, net-b@averyveryverylongname", "pods")
	want := `annotation k8s.v1.cni.cncf.io/networks entry 1 (network net-b) field "interface": "averyveryverylongname" is longer than 15 characters`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
}

func TestParseNetworksRejectsAnInvalidPodNamespaceOnlyWhenItIsUsed(t *testing.T) {
	if _, err := ParseNetworks("ns1/net-a", ""); err != nil {
		t.Fatalf("explicit namespace with empty pod namespace: %v", err)
	}
	_, err := ParseNetworks("net-a", "")
	checkError(t, err, NetworksKey, wantError{0, "namespace", "(the pod namespace) is empty"})
	_, err = ParseNetworks(`[{"name":"net-a"}]`, "Bad_NS")
	checkError(t, err, NetworksKey, wantError{0, "namespace", "(the pod namespace) is not a valid namespace"})
}

func TestParseDefaultNetwork(t *testing.T) {
	for _, tc := range []struct {
		name     string
		value    string
		wantNS   string
		wantName string
	}{
		{"namespace and name", "kube-system/underlay-default", "kube-system", "underlay-default"},
		{"bare name takes the pod namespace", "underlay-default", "pods", "underlay-default"},
		{"whitespace around the value", "  kube-system/underlay-default\n", "kube-system", "underlay-default"},
		{"empty value means no override", "", "", ""},
		{"blank value means no override", "  ", "", ""},
		{"explicit eth0 is tolerated", "underlay@eth0", "pods", "underlay"},
		{"json object", `{"name":"underlay","namespace":"kube-system"}`, "kube-system", "underlay"},
		{"json object without namespace", `{"name":"underlay"}`, "pods", "underlay"},
		{"one-element json list", `[{"name":"underlay","namespace":"kube-system"}]`, "kube-system", "underlay"},
		{"json ignores unknown fields", `{"name":"underlay","infiniband-guid":"x","future":1}`, "pods", "underlay"},
		{"json with interface eth0", `[{"name":"underlay","interface":"eth0"}]`, "pods", "underlay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, name, err := ParseDefaultNetwork(tc.value, "pods")
			if err != nil {
				t.Fatalf("ParseDefaultNetwork(%q) error: %v", tc.value, err)
			}
			if ns != tc.wantNS || name != tc.wantName {
				t.Fatalf("ParseDefaultNetwork(%q) = %q, %q; want %q, %q", tc.value, ns, name, tc.wantNS, tc.wantName)
			}
		})
	}
}

func TestParseDefaultNetworkRejectsInvalidValues(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value string
		want  wantError
	}{
		{"two networks in comma form", "net-a,net-b", wantError{-1, "", "more than one network"}},
		{"trailing comma", "net-a,", wantError{-1, "", "more than one network"}},
		{"invalid name", "kube-system/Underlay", wantError{-1, "name", "not a valid network name"}},
		{"invalid namespace", "kube_system/underlay", wantError{-1, "namespace", "not a valid namespace"}},
		{"two slashes", "a/b/c", wantError{-1, "name", "more than one '/'"}},
		{"interface other than eth0", "underlay@net1", wantError{-1, "interface", "always eth0"}},
		{"invalid interface", "underlay@averyveryverylongname", wantError{-1, "interface", "longer than 15"}},
		{"empty json list", `[]`, wantError{-1, "", "lists 0 networks"}},
		{"two-element json list", `[{"name":"a"},{"name":"b"}]`, wantError{-1, "", "lists 2 networks"}},
		{"malformed json list", `[{"name":"a"}`, wantError{-1, "", "not a valid json list"}},
		{"malformed json object", `{"name":`, wantError{-1, "", "not valid json"}},
		{"json object without name", `{"namespace":"kube-system"}`, wantError{-1, "name", "is required"}},
		{"json name of wrong type", `{"name":42}`, wantError{-1, "name", "must be a string, not a number"}},
		{"json list entry without name", `[{}]`, wantError{0, "name", "is required"}},
		{"json list entry not an object", `["underlay"]`, wantError{0, "", "must be a json object, not a string"}},
		{"json interface other than eth0", `{"name":"a","interface":"net1"}`, wantError{-1, "interface", "always eth0"}},
		{"ips cannot be honoured", `{"name":"a","ips":["10.0.0.1"]}`, wantError{-1, "ips", "not supported for the default network"}},
		{"mac cannot be honoured", `[{"name":"a","mac":"c2:b0:57:49:47:f1"}]`, wantError{0, "mac", "not supported"}},
		{"default-route cannot be honoured", `{"name":"a","default-route":["10.0.0.1"]}`, wantError{-1, "default-route", "not supported"}},
		{"cni-args cannot be honoured", `{"name":"a","cni-args":{}}`, wantError{-1, "cni-args", "not supported"}},
		{"portMappings cannot be honoured", `{"name":"a","portMappings":[{"containerPort":80}]}`, wantError{-1, "portMappings", "not supported"}},
		{"bandwidth cannot be honoured", `{"name":"a","bandwidth":{}}`, wantError{-1, "bandwidth", "not supported"}},
		{"malformed ips are still reported as such", `{"name":"a","ips":["x"]}`, wantError{-1, "ips[0]", "not a valid ip address"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, name, err := ParseDefaultNetwork(tc.value, "pods")
			if err == nil {
				t.Fatalf("ParseDefaultNetwork(%q) = %q, %q; want error", tc.value, ns, name)
			}
			if ns != "" || name != "" {
				t.Errorf("ParseDefaultNetwork(%q) returned %q, %q with an error", tc.value, ns, name)
			}
			checkError(t, err, DefaultNetworkKey, tc.want)
		})
	}
}

// A pod may ask for MaxNetworks networks, in either form, and no more.
func TestParseNetworksRefusesMoreThanMaxNetworks(t *testing.T) {
	for _, n := range []int{MaxNetworks, MaxNetworks + 1, 10000} {
		comma := make([]string, n)
		objs := make([]string, n)
		for i := range comma {
			comma[i] = fmt.Sprintf("net-a@n%d", i)
			objs[i] = fmt.Sprintf(`{"name":"net-a","interface":"n%d"}`, i)
		}
		for _, v := range []string{strings.Join(comma, ","), "[" + strings.Join(objs, ",") + "]"} {
			sels, err := ParseNetworks(v, "ns")
			if n <= MaxNetworks {
				if err != nil || len(sels) != n {
					t.Errorf("%d networks: %d selections, %v", n, len(sels), err)
				}
				continue
			}
			var perr *Error
			if !errors.As(err, &perr) || perr.Annotation != NetworksKey || !strings.Contains(err.Error(), fmt.Sprintf("lists %d networks", n)) {
				t.Errorf("%d networks: %v, want an error naming the count", n, err)
			}
		}
	}
}

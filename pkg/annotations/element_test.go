package annotations

import (
	"encoding/json"
	"net"
	"reflect"
	"strings"
	"testing"
)

func TestParseNetworksJSONForm(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value string
		want  []NetworkSelection
	}{
		{"user example with ips, mac and default-route",
			`[{"name":"macvlan-conf","interface":"net9","ips":["192.168.1.205/24"],"mac":"c2:b0:57:49:47:f1","default-route":["192.168.1.1"]}]`,
			[]NetworkSelection{{Name: "macvlan-conf", Namespace: "pods", Interface: "net9", IPs: []string{"192.168.1.205/24"},
				MAC: "c2:b0:57:49:47:f1", DefaultRoute: []net.IP{net.ParseIP("192.168.1.1")}}}},
		{"empty list asks for no networks", `[]`, nil},
		{"whitespace before the list", "  \n[ ]", nil},
		{"name only", `[{"name":"net-a"}]`, []NetworkSelection{{Name: "net-a", Namespace: "pods"}}},
		{"namespace given", `[{"name":"net-a","namespace":"ns1"}]`, []NetworkSelection{{Name: "net-a", Namespace: "ns1"}}},
		{"empty namespace defaults", `[{"name":"net-a","namespace":""}]`, []NetworkSelection{{Name: "net-a", Namespace: "pods"}}},
		{"empty interface means assign netN", `[{"name":"net-a","interface":""}]`, []NetworkSelection{{Name: "net-a", Namespace: "pods"}}},
		{"null fields are absent",
			`[{"name":"net-a","namespace":null,"interface":null,"ips":null,"mac":null,"default-route":null,"cni-args":null,"portMappings":null,"bandwidth":null}]`,
			[]NetworkSelection{{Name: "net-a", Namespace: "pods"}}},
		{"unknown fields are ignored",
			`[{"name":"net-a","infiniband-guid":"c2:b0:57:49:47:f1:00:01","ipam-claim-reference":"claim","x":{"y":[1]}}]`,
			[]NetworkSelection{{Name: "net-a", Namespace: "pods"}}},
		{"keys match fields ignoring case, as encoding/json in Multus",
			`[{"Name":"net-a","NAMESPACE":"ns1","Interface":"ext0","Mac":"c2:b0:57:49:47:f1","IPs":["10.1.1.5/24"],"Default-Route":["10.1.1.1"],
			  "PortMappings":[{"HostPort":8080,"ContainerPort":80,"Protocol":"TCP"}],"BandWidth":{"IngressRate":1000}}]`,
			[]NetworkSelection{{Name: "net-a", Namespace: "ns1", Interface: "ext0", MAC: "c2:b0:57:49:47:f1", IPs: []string{"10.1.1.5/24"},
				DefaultRoute: []net.IP{net.ParseIP("10.1.1.1")}, PortMappings: []PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}},
				Bandwidth: &Bandwidth{IngressRate: 1000}}}},
		{"a later key of another case overrides an earlier one", `[{"name":"net-a","Name":"net-b"}]`,
			[]NetworkSelection{{Name: "net-b", Namespace: "pods"}}},
		{"null leaves a string field as an earlier key set it", `[{"name":"net-a","NAME":null}]`,
			[]NetworkSelection{{Name: "net-a", Namespace: "pods"}}},
		{"null clears a list an earlier key set", `[{"name":"net-a","ips":["10.1.1.5"],"IPS":null}]`,
			[]NetworkSelection{{Name: "net-a", Namespace: "pods"}}},
		{"cni-args keys keep their case", `[{"name":"net-a","cni-args":{"Foo":"x","foo":"y"}}]`,
			[]NetworkSelection{{Name: "net-a", Namespace: "pods", CNIArgs: map[string]interface{}{"Foo": "x", "foo": "y"}}}},
		{"interfaceRequest of Multus before 3.2 names the interface", `[{"name":"net-a","interfaceRequest":"legacy0"}]`,
			[]NetworkSelection{{Name: "net-a", Namespace: "pods", Interface: "legacy0"}}},
		{"interface wins over interfaceRequest", `[{"name":"net-a","interfaceRequest":"legacy0","interface":"ext0"}]`,
			[]NetworkSelection{{Name: "net-a", Namespace: "pods", Interface: "ext0"}}},
		{"ips of both families kept as written",
			`[{"name":"net-a","ips":["10.1.1.5","fd00::5/64","10.1.1.6/24"]}]`,
			[]NetworkSelection{{Name: "net-a", Namespace: "pods", IPs: []string{"10.1.1.5", "fd00::5/64", "10.1.1.6/24"}}}},
		{"empty ips list is no request", `[{"name":"net-a","ips":[]}]`, []NetworkSelection{{Name: "net-a", Namespace: "pods"}}},
		{"mac kept as written", `[{"name":"net-a","mac":"C2-B0-57-49-47-F1"}]`,
			[]NetworkSelection{{Name: "net-a", Namespace: "pods", MAC: "C2-B0-57-49-47-F1"}}},
		{"default-route of both families", `[{"name":"net-a","default-route":["10.0.0.1","fd00::1"]}]`,
			[]NetworkSelection{{Name: "net-a", Namespace: "pods", DefaultRoute: []net.IP{net.ParseIP("10.0.0.1"), net.ParseIP("fd00::1")}}}},
		{"cni-args keeps numbers exact",
			`[{"name":"net-a","cni-args":{"vlan":12345678901234567890,"flag":true,"s":"x","nested":{"l":[1,"a"]}}}]`,
			[]NetworkSelection{{Name: "net-a", Namespace: "pods", CNIArgs: map[string]interface{}{
				"vlan": json.Number("12345678901234567890"), "flag": true, "s": "x",
				"nested": map[string]interface{}{"l": []interface{}{json.Number("1"), "a"}}}}}},
		{"empty cni-args object", `[{"name":"net-a","cni-args":{}}]`,
			[]NetworkSelection{{Name: "net-a", Namespace: "pods", CNIArgs: map[string]interface{}{}}}},
		{"portMappings with protocol lower-cased and hostIP",
			`[{"name":"net-a","portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"TCP","hostIP":"10.0.0.1"},{"containerPort":53,"protocol":"udp"},{"hostPort":0,"containerPort":65535,"protocol":"Sctp","extra":1}]}]`,
			[]NetworkSelection{{Name: "net-a", Namespace: "pods", PortMappings: []PortMapping{
				{HostPort: 8080, ContainerPort: 80, Protocol: "tcp", HostIP: "10.0.0.1"},
				{ContainerPort: 53, Protocol: "udp"},
				{HostPort: 0, ContainerPort: 65535, Protocol: "sctp"}}}}},
		{"bandwidth", `[{"name":"net-a","bandwidth":{"ingressRate":1000000,"ingressBurst":2000,"egressRate":3000000,"egressBurst":0}}]`,
			[]NetworkSelection{{Name: "net-a", Namespace: "pods", Bandwidth: &Bandwidth{IngressRate: 1000000, IngressBurst: 2000, EgressRate: 3000000}}}},
		{"empty bandwidth object", `[{"name":"net-a","bandwidth":{}}]`,
			[]NetworkSelection{{Name: "net-a", Namespace: "pods", Bandwidth: &Bandwidth{}}}},
		{"two entries keep order", `[{"name":"net-b","interface":"net2"},{"name":"net-a","namespace":"ns1","interface":"net1"}]`,
			[]NetworkSelection{{Name: "net-b", Namespace: "pods", Interface: "net2"}, {Name: "net-a", Namespace: "ns1", Interface: "net1"}}},
		{"eth0 may be named", `[{"name":"net-a","interface":"eth0"}]`,
			[]NetworkSelection{{Name: "net-a", Namespace: "pods", Interface: "eth0"}}},
		{"duplicate keys: last wins as in encoding/json", `[{"name":"x","name":"net-a"}]`,
			[]NetworkSelection{{Name: "net-a", Namespace: "pods"}}},
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

func TestParseNetworksJSONFormRejectsInvalidEntries(t *testing.T) {
	pm := func(s string) string { return `[{"name":"net-a","portMappings":[` + s + `]}]` }
	bw := func(s string) string { return `[{"name":"net-a","bandwidth":` + s + `}]` }
	for _, tc := range []struct {
		name  string
		value string
		want  wantError
	}{
		{"malformed json", `[{"name":"net-a"}`, wantError{-1, "", "not a valid json list"}},
		{"trailing data", `[{"name":"net-a"}] x`, wantError{-1, "", "not a valid json list"}},
		{"trailing comma", `[{"name":"net-a"},]`, wantError{-1, "", "not a valid json list"}},
		{"entry is a string", `[{"name":"net-a"},"net-b"]`, wantError{1, "", "must be a json object, not a string"}},
		{"entry is null", `[null]`, wantError{0, "", "must be a json object, not null"}},
		{"entry is a list", `[[]]`, wantError{0, "", "must be a json object, not a list"}},
		{"missing name", `[{"namespace":"ns1"}]`, wantError{0, "name", "is required"}},
		{"null name", `[{"name":null}]`, wantError{0, "name", "is required"}},
		{"empty name", `[{"name":""}]`, wantError{0, "name", "is empty"}},
		{"name is a number", `[{"name":1}]`, wantError{0, "name", "must be a string, not a number"}},
		{"name with namespace slash", `[{"name":"ns1/net-a"}]`, wantError{0, "name", "not a valid network name"}},
		{"invalid name", `[{"name":"Net_A"}]`, wantError{0, "name", "not a valid network name"}},
		{"namespace is a boolean", `[{"name":"net-a","namespace":true}]`, wantError{0, "namespace", "must be a string, not a boolean"}},
		{"invalid namespace", `[{"name":"net-a","namespace":"a.b"}]`, wantError{0, "namespace", "not a valid namespace"}},
		{"interface is an object", `[{"name":"net-a","interface":{}}]`, wantError{0, "interface", "must be a string, not an object"}},
		{"interface too long", `[{"name":"net-a"},{"name":"net-b","interface":"averyveryverylongname"}]`, wantError{1, "interface", "longer than 15 characters"}},
		{"interfaceRequest too long", `[{"name":"net-a","interfaceRequest":"averyveryverylongname"}]`, wantError{0, "interfaceRequest", "longer than 15 characters"}},
		{"interface of another case is checked", `[{"name":"net-a","Interface":"eth0:1"}]`, wantError{0, "interface", "contains ':'"}},
		{"interface with colon", `[{"name":"net-a","interface":"eth0:1"}]`, wantError{0, "interface", "contains ':'"}},
		{"interface with space", `[{"name":"net-a","interface":"net 1"}]`, wantError{0, "interface", "whitespace"}},
		{"duplicate interface reports the second", `[{"name":"a","interface":"net1"},{"name":"b","interface":"net1"}]`, wantError{1, "interface", "already used by entry 0"}},
		{"ips is a string", `[{"name":"net-a","ips":"10.0.0.1"}]`, wantError{0, "ips", "must be a list, not a string"}},
		{"ips element is a number", `[{"name":"net-a","ips":["10.0.0.1",5]}]`, wantError{0, "ips[1]", "must be a string, not a number"}},
		{"ips element is null", `[{"name":"net-a","ips":[null]}]`, wantError{0, "ips[0]", "must be a string, not null"}},
		{"ips element malformed", `[{"name":"net-a","ips":["10.0.0.300"]}]`, wantError{0, "ips[0]", "not a valid ip address"}},
		{"ips element bad prefix", `[{"name":"net-a","ips":["10.0.0.1/33"]}]`, wantError{0, "ips[0]", "not a valid ip/prefix"}},
		{"ips element empty", `[{"name":"net-a","ips":[""]}]`, wantError{0, "ips[0]", "not a valid ip address"}},
		{"mac malformed", `[{"name":"net-a","mac":"c2:b0:57:49:47"}]`, wantError{0, "mac", "not a valid mac address"}},
		{"mac is a number", `[{"name":"net-a","mac":12}]`, wantError{0, "mac", "must be a string"}},
		{"default-route is a string", `[{"name":"net-a","default-route":"10.0.0.1"}]`, wantError{0, "default-route", "must be a list"}},
		{"default-route element is a cidr", `[{"name":"net-a","default-route":["10.0.0.1/24"]}]`, wantError{0, "default-route[0]", "not a valid ip address"}},
		{"default-route element is a number", `[{"name":"net-a","default-route":[1]}]`, wantError{0, "default-route[0]", "must be a string"}},
		{"default-route element is null", `[{"name":"net-a","default-route":[null]}]`, wantError{0, "default-route[0]", "must be a string, not null"}},
		{"cni-args is a list", `[{"name":"net-a","cni-args":[1]}]`, wantError{0, "cni-args", "must be an object, not a list"}},
		{"cni-args is a string", `[{"name":"net-a","cni-args":"a=b"}]`, wantError{0, "cni-args", "must be an object, not a string"}},
		{"portMappings is an object", `[{"name":"net-a","portMappings":{}}]`, wantError{0, "portMappings", "must be a list, not an object"}},
		{"portMappings element is null", pm(`null`), wantError{0, "portMappings[0]", "must be an object, not null"}},
		{"portMappings element is a number", pm(`80`), wantError{0, "portMappings[0]", "must be an object, not a number"}},
		{"portMappings without containerPort", pm(`{"hostPort":80}`), wantError{0, "portMappings[0].containerPort", "is required"}},
		{"containerPort zero", pm(`{"containerPort":0}`), wantError{0, "portMappings[0].containerPort", "range 1..65535"}},
		{"containerPort too big", pm(`{"containerPort":65536}`), wantError{0, "portMappings[0].containerPort", "range 1..65535"}},
		{"containerPort is a string", pm(`{"containerPort":"80"}`), wantError{0, "portMappings[0].containerPort", "must be an integer, not a string"}},
		{"containerPort is a fraction", pm(`{"containerPort":80.5}`), wantError{0, "portMappings[0].containerPort", "not an integer in range"}},
		{"containerPort overflows int64", pm(`{"containerPort":99999999999999999999}`), wantError{0, "portMappings[0].containerPort", "not an integer in range"}},
		{"hostPort negative", pm(`{"hostPort":-1,"containerPort":80}`), wantError{0, "portMappings[0].hostPort", "range 0..65535"}},
		{"hostPort too big in second mapping", pm(`{"containerPort":80},{"hostPort":70000,"containerPort":80}`), wantError{0, "portMappings[1].hostPort", "range 0..65535"}},
		{"protocol unknown", pm(`{"containerPort":80,"protocol":"icmp"}`), wantError{0, "portMappings[0].protocol", "not one of tcp, udp, sctp"}},
		{"protocol is a number", pm(`{"containerPort":80,"protocol":6}`), wantError{0, "portMappings[0].protocol", "must be a string"}},
		{"hostIP malformed", pm(`{"containerPort":80,"hostIP":"localhost"}`), wantError{0, "portMappings[0].hostIP", "not a valid ip address"}},
		{"bandwidth is a list", bw(`[]`), wantError{0, "bandwidth", "must be an object, not a list"}},
		{"bandwidth negative rate", bw(`{"ingressRate":-1}`), wantError{0, "bandwidth.ingressRate", "range 0.."}},
		{"bandwidth negative burst", bw(`{"egressBurst":-5}`), wantError{0, "bandwidth.egressBurst", "range 0.."}},
		{"bandwidth rate is a string", bw(`{"egressRate":"1M"}`), wantError{0, "bandwidth.egressRate", "must be an integer, not a string"}},
		{"bandwidth burst is a float", bw(`{"ingressBurst":1e3}`), wantError{0, "bandwidth.ingressBurst", "not an integer in range"}},
		{"error in third entry names entry 2", `[{"name":"a"},{"name":"b"},{"name":"c","mac":"zz"}]`, wantError{2, "mac", "not a valid mac address"}},
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

func TestParseNetworksJSONErrorMessageNamesEntryAndField(t *testing.T) {
	_, err := ParseNetworks(`[{"name":"a"},{"name":"b","portMappings":[{"containerPort":80,"protocol":"icmp"}]}]`, "pods")
	want := `annotation k8s.v1.cni.cncf.io/networks entry 1 (network b) field "portMappings[0].protocol": "icmp" is not one of tcp, udp, sctp`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
	if strings.Contains(err.Error(), "Go value") {
		t.Fatalf("message leaks encoding/json internals: %v", err)
	}
}

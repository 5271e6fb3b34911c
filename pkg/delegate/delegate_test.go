package delegate

import (
	"encoding/json"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
)

// decode turns JSON into generic values so tests compare content, not
// key order or spacing.
func decode(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return m
}

func mustBuild(t *testing.T, config string, req Request) *Delegate {
	t.Helper()
	d, err := Build("ns1/net-a", "net-a", "net1", []byte(config), "1.0.0", req)
	if err != nil {
		t.Fatalf("Build(%s) = %v, want success", config, err)
	}
	return d
}

func TestBuildConfList(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config string
		want   string // the conflist Build hands to libcni
	}{
		{
			"single conf is wrapped into a conflist that keeps its name and cniVersion",
			`{"cniVersion":"0.4.0","name":"macvlan-conf","type":"macvlan","master":"eth0","ipam":{"type":"host-local"}}`,
			`{"cniVersion":"0.4.0","name":"macvlan-conf","plugins":[{"cniVersion":"0.4.0","name":"macvlan-conf","type":"macvlan","master":"eth0","ipam":{"type":"host-local"}}]}`,
		},
		{
			"single conf without name gets the default name on the list",
			`{"cniVersion":"0.3.1","type":"macvlan"}`,
			`{"cniVersion":"0.3.1","name":"net-a","plugins":[{"cniVersion":"0.3.1","type":"macvlan"}]}`,
		},
		{
			"single conf without cniVersion gets the caller's on the list",
			`{"name":"mine","type":"macvlan"}`,
			`{"cniVersion":"1.0.0","name":"mine","plugins":[{"name":"mine","type":"macvlan"}]}`,
		},
		{
			"conflist without name or cniVersion gets both injected",
			`{"plugins":[{"type":"bridge"},{"type":"portmap","capabilities":{"portMappings":true}}]}`,
			`{"cniVersion":"1.0.0","name":"net-a","plugins":[{"type":"bridge"},{"type":"portmap","capabilities":{"portMappings":true}}]}`,
		},
		{
			"conflist name and older cniVersion are kept",
			`{"cniVersion":"0.3.1","name":"cbr0","plugins":[{"type":"bridge"}],"disableCheck":true}`,
			`{"cniVersion":"0.3.1","name":"cbr0","plugins":[{"type":"bridge"}],"disableCheck":true}`,
		},
		{
			"empty name and cniVersion count as absent",
			`{"cniVersion":"","name":"","plugins":[{"type":"bridge"}]}`,
			`{"cniVersion":"1.0.0","name":"net-a","plugins":[{"type":"bridge"}]}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := mustBuild(t, tc.config, Request{})
			if got, want := decode(t, d.ConfList), decode(t, []byte(tc.want)); !reflect.DeepEqual(got, want) {
				t.Fatalf("conflist = %s\nwant %s", d.ConfList, tc.want)
			}
			if want := decode(t, []byte(tc.want))["name"]; d.Name != want {
				t.Fatalf("Name = %q, want the conflist's name %q", d.Name, want)
			}
		})
	}
}

func TestBuildFillsDelegateFromArguments(t *testing.T) {
	gw := []net.IP{net.ParseIP("10.1.0.1")}
	d, err := Build("file:/etc/cni/net.d/10-a.conf", "a", "net3", []byte(`{"name":"a","type":"ptp"}`), "0.4.0", Request{Gateways: gw})
	if err != nil {
		t.Fatal(err)
	}
	if d.Network != "file:/etc/cni/net.d/10-a.conf" || d.Name != "a" || d.IfName != "net3" || d.Cluster || !reflect.DeepEqual(d.Gateways, gw) {
		t.Fatalf("delegate = %+v", d)
	}
}

func TestBuildMergesCNIArgsIntoEveryPlugin(t *testing.T) {
	d := mustBuild(t, `{"plugins":[
		{"type":"macvlan","args":{"cni":{"existing":"kept","vlan":1},"other":{"k":"v"}}},
		{"type":"tuning","args":{"other":true}},
		{"type":"sbr"}
	]}`, Request{CNIArgs: map[string]any{"vlan": json.Number("12"), "label": "blue"}})
	plugins := decode(t, d.ConfList)["plugins"].([]any)
	want := []map[string]any{
		{"cni": map[string]any{"existing": "kept", "vlan": 12.0, "label": "blue"}, "other": map[string]any{"k": "v"}},
		{"cni": map[string]any{"vlan": 12.0, "label": "blue"}, "other": true},
		{"cni": map[string]any{"vlan": 12.0, "label": "blue"}},
	}
	for i, p := range plugins {
		if got := p.(map[string]any)["args"]; !reflect.DeepEqual(got, want[i]) {
			t.Errorf("plugins[%d].args = %#v\nwant %#v", i, got, want[i])
		}
	}
}

func TestBuildWithoutCNIArgsLeavesPluginArgsAlone(t *testing.T) {
	d := mustBuild(t, `{"plugins":[{"type":"macvlan"},{"type":"tuning","args":{"cni":{"x":1}}}]}`, Request{CNIArgs: map[string]any{}})
	plugins := decode(t, d.ConfList)["plugins"].([]any)
	if _, ok := plugins[0].(map[string]any)["args"]; ok {
		t.Errorf("plugins[0] got args %v though the selection has no cni-args", plugins[0])
	}
	if got := plugins[1].(map[string]any)["args"]; !reflect.DeepEqual(got, map[string]any{"cni": map[string]any{"x": 1.0}}) {
		t.Errorf("plugins[1].args = %#v, want unchanged", got)
	}
}

func TestBuildCapabilityArgsOnlyForRequestedFields(t *testing.T) {
	ports := []map[string]any{{"hostPort": 8080, "containerPort": 80}}
	bw := map[string]any{"ingressRate": 1000}
	for _, tc := range []struct {
		name string
		req  Request
		want map[string]any
	}{
		{"no request gives no capability args", Request{}, nil},
		{"empty IP list and MAC are not requests", Request{IPs: []string{}, MAC: ""}, nil},
		{"cni-args and gateways are not capabilities", Request{CNIArgs: map[string]any{"a": "b"}, Gateways: []net.IP{net.ParseIP("10.0.0.1")}}, nil},
		{"ips", Request{IPs: []string{"10.0.0.5/24", "fd00::5/64"}}, map[string]any{"ips": []string{"10.0.0.5/24", "fd00::5/64"}}},
		{"mac", Request{MAC: "c2:b0:57:49:47:f1"}, map[string]any{"mac": "c2:b0:57:49:47:f1"}},
		{"portMappings", Request{PortMappings: ports}, map[string]any{"portMappings": ports}},
		{"bandwidth", Request{Bandwidth: bw}, map[string]any{"bandwidth": bw}},
		{"all four", Request{IPs: []string{"10.0.0.5"}, MAC: "02:00:00:00:00:01", PortMappings: ports, Bandwidth: bw},
			map[string]any{"ips": []string{"10.0.0.5"}, "mac": "02:00:00:00:00:01", "portMappings": ports, "bandwidth": bw}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := mustBuild(t, `{"type":"macvlan"}`, tc.req)
			if tc.want == nil {
				if d.CapabilityArgs != nil {
					t.Fatalf("CapabilityArgs = %#v, want nil", d.CapabilityArgs)
				}
				return
			}
			if !reflect.DeepEqual(d.CapabilityArgs, tc.want) {
				t.Fatalf("CapabilityArgs = %#v, want %#v", d.CapabilityArgs, tc.want)
			}
			// Capability arguments travel through libcni's runtimeConfig, not the conf.
			if _, ok := decode(t, d.ConfList)["runtimeConfig"]; ok {
				t.Fatalf("conflist %s carries runtimeConfig", d.ConfList)
			}
		})
	}
}

// Multus (multus.DelegateAdd) also passes a selection's MAC and IPs as the
// CNI_ARGS MAC and IP, which plugins without the capability read.
func TestBuildAddArgsCarryTheRequestedMACAndIPs(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  Request
		want [][2]string
	}{
		{"no request", Request{}, nil},
		{"mac", Request{MAC: "02:00:00:00:00:01"}, [][2]string{{"MAC", "02:00:00:00:00:01"}}},
		{"ips joined by commas", Request{IPs: []string{"10.0.0.5/24", "fd00::5/64"}}, [][2]string{{"IP", "10.0.0.5/24,fd00::5/64"}}},
		{"both, MAC first as in Multus", Request{IPs: []string{"10.0.0.5"}, MAC: "02:00:00:00:00:01"},
			[][2]string{{"MAC", "02:00:00:00:00:01"}, {"IP", "10.0.0.5"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := mustBuild(t, `{"type":"macvlan"}`, tc.req); !reflect.DeepEqual(d.AddArgs, tc.want) {
				t.Fatalf("AddArgs = %v, want %v", d.AddArgs, tc.want)
			}
		})
	}
}

// The runtime's runtimeConfig, given to meta-cni, is every delegate's
// base; a selection's own request wins for its key, as in Multus
// (types.mergeCNIRuntimeConfig).
func TestBuildCapabilityArgsStartFromTheRuntimesRuntimeConfig(t *testing.T) {
	ports := []any{map[string]any{"hostPort": 8080, "containerPort": 80}}
	runtime := map[string]any{"portMappings": ports, "mac": "02:00:00:00:00:aa"}
	for _, tc := range []struct {
		name string
		req  Request
		want map[string]any
	}{
		{"no request", Request{RuntimeConfig: runtime}, map[string]any{"portMappings": ports, "mac": "02:00:00:00:00:aa"}},
		{"the selection's mac wins", Request{RuntimeConfig: runtime, MAC: "02:00:00:00:00:01", IPs: []string{"10.0.0.5/24"}},
			map[string]any{"portMappings": ports, "mac": "02:00:00:00:00:01", "ips": []string{"10.0.0.5/24"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := mustBuild(t, `{"type":"macvlan"}`, tc.req)
			if !reflect.DeepEqual(d.CapabilityArgs, tc.want) {
				t.Fatalf("CapabilityArgs = %#v, want %#v", d.CapabilityArgs, tc.want)
			}
		})
	}
	if runtime["mac"] != "02:00:00:00:00:aa" {
		t.Fatalf("Build changed the runtime's runtimeConfig: %v", runtime)
	}
}

func TestBuildRejectsBrokenConfigNamingNetworkAndField(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config string
		field  string
		reason string
	}{
		{"invalid JSON", `{"type":`, "config", "is not valid JSON"},
		{"empty config", ``, "config", "is not valid JSON"},
		{"JSON list", `[{"type":"bridge"}]`, "config", "is not valid JSON"},
		{"JSON null", `null`, "config", "is not a JSON object"},
		{"plugins is an object", `{"plugins":{"type":"bridge"}}`, "plugins", "is not a list"},
		{"plugins is null", `{"plugins":null}`, "plugins", "is not a list"},
		{"plugins is empty", `{"name":"a","plugins":[]}`, "plugins", "is empty"},
		{"plugin is not an object", `{"plugins":[{"type":"bridge"},"portmap"]}`, "plugins[1]", "is not an object"},
		{"plugin without type", `{"plugins":[{"type":"bridge"},{"capabilities":{}}]}`, "plugins[1].type", "is required"},
		{"plugin with empty type", `{"plugins":[{"type":""}]}`, "plugins[0].type", "is required"},
		{"plugin with non-string type", `{"plugins":[{"type":7}]}`, "plugins[0].type", "is required"},
		{"single conf without type", `{"name":"a","master":"eth0"}`, "type", "is required in a single plugin config"},
		{"single conf with empty type", `{"name":"a","type":""}`, "type", "is required in a single plugin config"},
		{"single conf with non-string type", `{"name":"a","type":["macvlan"]}`, "type", "is required in a single plugin config"},
		{"slash in name", `{"name":"a/b","type":"bridge"}`, "name", `"a/b" may hold only`},
		{"dot-dot name", `{"name":"..","type":"bridge"}`, "name", "may hold only"},
		{"space in name", `{"name":"my net","plugins":[{"type":"bridge"}]}`, "name", "may hold only"},
		{"bad cniVersion", `{"cniVersion":"one","type":"bridge"}`, "cniVersion", `"one" is not a CNI version`},
		{"bad cniVersion in conflist", `{"cniVersion":"1.x","plugins":[{"type":"bridge"}]}`, "cniVersion", "is not a CNI version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Build("ns1/net-a", "net-a", "net1", []byte(tc.config), "1.0.0", Request{})
			var berr *BuildError
			if !errors.As(err, &berr) {
				t.Fatalf("Build(%s) = %+v, %v; want a *BuildError", tc.config, d, err)
			}
			if berr.Network != "ns1/net-a" || berr.Field != tc.field || !strings.Contains(berr.Reason, tc.reason) {
				t.Fatalf("error = %#v, want network ns1/net-a, field %q, reason containing %q", berr, tc.field, tc.reason)
			}
			if want := `network ns1/net-a: config field "` + tc.field + `": `; !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("message %q does not start with %q", err, want)
			}
		})
	}
}

func TestBuildRejectsDefaultNameThatIsNotAValidNetworkName(t *testing.T) {
	_, err := Build("ns1/x", "bad name", "net1", []byte(`{"type":"bridge"}`), "1.0.0", Request{})
	var berr *BuildError
	if !errors.As(err, &berr) || berr.Field != "name" {
		t.Fatalf("error = %v, want a *BuildError for field name", err)
	}
}

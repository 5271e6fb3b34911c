package delegate

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
)

// execCall is one plugin run the fake exec saw.
type execCall struct {
	path  string
	stdin map[string]any
	env   []string
}

// fakeExec stands in for running plugin binaries: plugins in have are found
// at /bin/<type>, every run is recorded, and ADD answers with an interface.
type fakeExec struct {
	have  []string
	calls []execCall
}

func (e *fakeExec) ExecPlugin(_ context.Context, path string, stdin []byte, environ []string) ([]byte, error) {
	var conf map[string]any
	if err := json.Unmarshal(stdin, &conf); err != nil {
		return nil, err
	}
	e.calls = append(e.calls, execCall{path: path, stdin: conf, env: environ})
	if slices.Contains(environ, "CNI_COMMAND=ADD") {
		return []byte(fmt.Sprintf(`{"cniVersion":%q,"interfaces":[{"name":"net1"}]}`, conf["cniVersion"])), nil
	}
	return nil, nil
}

func (e *fakeExec) FindInPath(plugin string, paths []string) (string, error) {
	if slices.Contains(e.have, plugin) {
		return "/bin/" + plugin, nil
	}
	return "", fmt.Errorf("failed to find plugin %q in path %s", plugin, paths)
}

func (e *fakeExec) Decode(data []byte) (version.PluginInfo, error) {
	return version.PluginSupports("1.0.0"), nil
}

func macvlanChain(t *testing.T) *libcni.NetworkConfigList {
	t.Helper()
	list, err := libcni.ConfListFromBytes([]byte(`{"cniVersion":"1.0.0","name":"net-a","plugins":[
  {"type":"macvlan","master":"eth1","capabilities":{"mac":true,"ips":false}},
  {"type":"tuning","name":"tune","runtimeConfig":{"stale":true}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func TestLibCNIDelPluginGivesThePluginWhatDelNetworkListWould(t *testing.T) {
	e := &fakeExec{have: []string{"macvlan", "tuning"}}
	c := newLibCNI([]string{"/opt/cni/bin", "/usr/libexec/cni"}, t.TempDir(), e)
	prev := &current.Result{CNIVersion: "1.0.0", Interfaces: []*current.Interface{{Name: "net1"}}}
	rt := &libcni.RuntimeConf{ContainerID: "c1", NetNS: "/run/netns/c1", IfName: "net1",
		Args:           [][2]string{{"K8S_POD_NAME", "p"}},
		CapabilityArgs: map[string]any{"mac": "02:00:00:00:00:01", "ips": []string{"10.0.0.5/24"}}}
	list := macvlanChain(t)
	for i := range list.Plugins {
		if err := c.DelPlugin(context.Background(), list, i, prev, rt); err != nil {
			t.Fatal(err)
		}
	}
	if len(e.calls) != 2 {
		t.Fatalf("ran %d plugins, want 2", len(e.calls))
	}
	macvlan, tuning := e.calls[0], e.calls[1]
	for _, call := range e.calls {
		if call.stdin["name"] != "net-a" || call.stdin["cniVersion"] != "1.0.0" {
			t.Errorf("%s got name %v cniVersion %v, want the list's", call.path, call.stdin["name"], call.stdin["cniVersion"])
		}
		if pr, _ := call.stdin["prevResult"].(map[string]any); pr == nil || pr["interfaces"] == nil {
			t.Errorf("%s got prevResult %v, want the cached result", call.path, call.stdin["prevResult"])
		}
		for _, want := range []string{"CNI_COMMAND=DEL", "CNI_CONTAINERID=c1", "CNI_NETNS=/run/netns/c1", "CNI_IFNAME=net1",
			"CNI_ARGS=K8S_POD_NAME=p", "CNI_PATH=/opt/cni/bin:/usr/libexec/cni"} {
			if !slices.Contains(call.env, want) {
				t.Errorf("%s environment lacks %s", call.path, want)
			}
		}
	}
	// Only declared, enabled capabilities reach runtimeConfig.
	if got, want := macvlan.stdin["runtimeConfig"], map[string]any{"mac": "02:00:00:00:00:01"}; !reflect.DeepEqual(got, want) {
		t.Errorf("macvlan runtimeConfig = %v, want %v", got, want)
	}
	if got, want := tuning.stdin["runtimeConfig"], map[string]any{"stale": true}; !reflect.DeepEqual(got, want) {
		t.Errorf("tuning runtimeConfig = %v, want its own config's %v untouched", got, want)
	}
}

func TestLibCNIDelPluginOfAMissingBinaryNamesThePlugin(t *testing.T) {
	e := &fakeExec{have: []string{"macvlan"}}
	c := newLibCNI([]string{"/opt/cni/bin"}, t.TempDir(), e)
	err := c.DelPlugin(context.Background(), macvlanChain(t), 1, nil, &libcni.RuntimeConf{ContainerID: "c1", IfName: "net1"})
	if err == nil || !strings.Contains(err.Error(), `plugin type="tuning" name="tune" failed (delete): failed to find plugin "tuning"`) {
		t.Fatalf("DelPlugin = %v, want a failure naming the plugin and the missing binary", err)
	}
	if len(e.calls) != 0 {
		t.Fatalf("ran %d plugins", len(e.calls))
	}
}

func TestLibCNIForgetResultRemovesWhatAddNetworkListCached(t *testing.T) {
	e := &fakeExec{have: []string{"macvlan", "tuning"}}
	dir := t.TempDir()
	c := newLibCNI([]string{"/opt/cni/bin"}, dir, e)
	list := macvlanChain(t)
	rt := &libcni.RuntimeConf{ContainerID: "c1", NetNS: "/run/netns/c1", IfName: "net1"}
	if _, err := c.AddNetworkList(context.Background(), list, rt); err != nil {
		t.Fatal(err)
	}
	cached, err := c.GetNetworkListCachedResult(list, rt)
	if err != nil || cached == nil {
		t.Fatalf("cached result after ADD = %v, %v", cached, err)
	}
	if err := c.ForgetResult(list, rt); err != nil {
		t.Fatal(err)
	}
	if cached, err := c.GetNetworkListCachedResult(list, rt); err != nil || cached != nil {
		t.Fatalf("cached result after ForgetResult = %v, %v; want none", cached, err)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "results", "*")); len(matches) != 0 {
		t.Fatalf("cache files left: %v", matches)
	}
}

package delegate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// call is one libcni call the fake saw.
type call struct {
	op      string // ADD, DEL, CHECK, STATUS, GC
	network string // the conflist name
	ifName  string
	plugin  string // the plugin type, for DEL
	rt      *libcni.RuntimeConf
	gc      *libcni.GCArgs
	prev    types.Result // prevResult, for DEL
}

func (c call) String() string { return c.op + " " + c.network + "/" + c.ifName }

// fakeCNI records every call and fails the ones named in fail, keyed by
// "OP ifName" (or "OP network" for STATUS and GC, which have no interface).
type fakeCNI struct {
	calls []call
	fail  map[string]error
	// cached results by "network/ifName", and the ones ForgetResult removed.
	cached    map[string]types.Result
	forgotten []string
}

func (f *fakeCNI) record(c call, key string) error {
	f.calls = append(f.calls, c)
	return f.fail[key]
}

func (f *fakeCNI) AddNetworkList(_ context.Context, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) (types.Result, error) {
	if err := f.record(call{op: "ADD", network: list.Name, ifName: rt.IfName, rt: rt}, "ADD "+rt.IfName); err != nil {
		return nil, err
	}
	return &current.Result{CNIVersion: list.CNIVersion, Interfaces: []*current.Interface{{Name: rt.IfName}}}, nil
}

func (f *fakeCNI) CheckNetworkList(_ context.Context, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error {
	return f.record(call{op: "CHECK", network: list.Name, ifName: rt.IfName, rt: rt}, "CHECK "+rt.IfName)
}

// DelPlugin records one plugin's DEL; a list's first plugin is keyed like
// a one-plugin list ("DEL ifName"), later ones as "DEL ifName type".
func (f *fakeCNI) DelPlugin(_ context.Context, list *libcni.NetworkConfigList, i int, prev types.Result, rt *libcni.RuntimeConf) error {
	key := "DEL " + rt.IfName
	if i > 0 {
		key += " " + list.Plugins[i].Network.Type
	}
	return f.record(call{op: "DEL", network: list.Name, ifName: rt.IfName, plugin: list.Plugins[i].Network.Type, rt: rt, prev: prev}, key)
}

func (f *fakeCNI) GetNetworkListCachedResult(list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) (types.Result, error) {
	if r, ok := f.cached[list.Name+"/"+rt.IfName]; ok {
		return r, nil
	}
	return nil, nil
}

func (f *fakeCNI) ForgetResult(list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error {
	f.forgotten = append(f.forgotten, list.Name+"/"+rt.IfName)
	return nil
}

func (f *fakeCNI) GCNetworkList(_ context.Context, list *libcni.NetworkConfigList, args *libcni.GCArgs) error {
	return f.record(call{op: "GC", network: list.Name, gc: args}, "GC "+list.Name)
}

func (f *fakeCNI) GetStatusNetworkList(_ context.Context, list *libcni.NetworkConfigList) error {
	return f.record(call{op: "STATUS", network: list.Name}, "STATUS "+list.Name)
}

// sequence is the calls as "OP network/ifName" strings.
func (f *fakeCNI) sequence() []string {
	out := []string{}
	for _, c := range f.calls {
		out = append(out, c.String())
	}
	return out
}

func testDelegate(name, ifName, cniVersion string) Delegate {
	return Delegate{
		Network:  "ns1/" + name,
		Name:     name,
		IfName:   ifName,
		ConfList: json.RawMessage(fmt.Sprintf(`{"cniVersion":%q,"name":%q,"plugins":[{"type":"fake"}]}`, cniVersion, name)),
	}
}

// threeNetworks is a pod with the cluster network and two more.
func threeNetworks() *Record {
	cluster := testDelegate("cluster", "eth0", "1.0.0")
	cluster.Cluster = true
	a := testDelegate("net-a", "net1", "1.0.0")
	a.CapabilityArgs = map[string]any{"mac": "02:00:00:00:00:01"}
	a.AddArgs = [][2]string{{"MAC", "02:00:00:00:00:01"}}
	return &Record{
		ContainerID: "c1",
		NetNS:       "/var/run/netns/c1",
		IfName:      "eth0",
		CNIVersion:  "1.0.0",
		Args:        [][2]string{{"K8S_POD_NAMESPACE", "ns1"}, {"K8S_POD_NAME", "p"}},
		Delegates:   []Delegate{cluster, a, testDelegate("net-b", "net2", "1.0.0")},
	}
}

// checkDelegateError fails unless err holds a *Error for op on the delegate
// with ifName, wrapping cause, and its message names network and interface.
func checkDelegateError(t *testing.T, err error, op, network, ifName string, cause error) {
	t.Helper()
	var derr *Error
	if !errors.As(err, &derr) {
		t.Fatalf("error = %v (%T), want a *delegate.Error", err, err)
	}
	if derr.Op != op || derr.Network != network || derr.IfName != ifName {
		t.Fatalf("error = %+v, want op %s network %s interface %s", derr, op, network, ifName)
	}
	if cause != nil && !errors.Is(err, cause) {
		t.Fatalf("error %v does not wrap %v", err, cause)
	}
	if want := fmt.Sprintf("%s network %s (%s): ", op, network, ifName); !strings.Contains(err.Error(), want) {
		t.Fatalf("message %q does not contain %q", err, want)
	}
}

// addAll runs AddDelegate on every delegate of r, stopping at the first failure.
func addAll(rn *Runner, r *Record) ([]types.Result, error) {
	var out []types.Result
	for i := range r.Delegates {
		res, err := rn.AddDelegate(context.Background(), r, &r.Delegates[i])
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

func TestRunnerAddDelegateRunsItsListAndReturnsItsResult(t *testing.T) {
	f := &fakeCNI{}
	r := threeNetworks()
	results, err := addAll(&Runner{CNI: f}, r)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ADD cluster/eth0", "ADD net-a/net1", "ADD net-b/net2"}; !reflect.DeepEqual(f.sequence(), want) {
		t.Fatalf("calls = %v, want %v", f.sequence(), want)
	}
	for i, res := range results {
		if got := res.(*current.Result).Interfaces[0].Name; got != r.Delegates[i].IfName {
			t.Errorf("results[%d] is for %s, want %s", i, got, r.Delegates[i].IfName)
		}
	}
}

func TestRunnerAddDelegatePassesRuntimeConfOfRecordAndDelegate(t *testing.T) {
	f := &fakeCNI{}
	r := threeNetworks()
	if _, err := addAll(&Runner{CNI: f}, r); err != nil {
		t.Fatal(err)
	}
	for i, c := range f.calls {
		want := &libcni.RuntimeConf{
			ContainerID:    "c1",
			NetNS:          "/var/run/netns/c1",
			IfName:         r.Delegates[i].IfName,
			Args:           append(append([][2]string{}, r.Args...), r.Delegates[i].AddArgs...),
			CapabilityArgs: r.Delegates[i].CapabilityArgs,
		}
		if !reflect.DeepEqual(c.rt, want) {
			t.Errorf("call %d runtime conf = %+v, want %+v", i, c.rt, want)
		}
	}
	if len(r.Args) != 2 {
		t.Errorf("ADD changed the record's args to %v", r.Args)
	}
}

// Multus passes a selection's IP and MAC in CNI_ARGS on ADD only; DEL and
// CHECK get the runtime's args alone.
func TestRunnerPassesAddArgsOnAddOnly(t *testing.T) {
	f := &fakeCNI{}
	r := threeNetworks()
	rn := &Runner{CNI: f}
	if err := rn.Check(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if err := rn.Del(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	for _, c := range f.calls {
		if !reflect.DeepEqual(c.rt.Args, r.Args) {
			t.Errorf("%s got args %v, want the record's %v", c, c.rt.Args, r.Args)
		}
	}
}

func TestRunnerAddDelegateFailureNamesTheDelegateAndUndoesNothing(t *testing.T) {
	boom := &types.Error{Code: 42, Msg: "boom"}
	f := &fakeCNI{fail: map[string]error{"ADD net1": boom}}
	_, err := addAll(&Runner{CNI: f}, threeNetworks())
	checkDelegateError(t, err, "add", "ns1/net-a", "net1", boom)
	if want := []string{"ADD cluster/eth0", "ADD net-a/net1"}; !reflect.DeepEqual(f.sequence(), want) {
		t.Fatalf("calls = %v\nwant %v (undoing is the Attachment's job)", f.sequence(), want)
	}
}

func TestRunnerAddDelegateOfUnparsableConfListFailsBeforeRunningIt(t *testing.T) {
	f := &fakeCNI{}
	r := threeNetworks()
	r.Delegates[1].ConfList = json.RawMessage(`{"plugins":[{"type":"fake"}]}`) // no name
	_, err := (&Runner{CNI: f}).AddDelegate(context.Background(), r, &r.Delegates[1])
	checkDelegateError(t, err, "parse", "ns1/net-a", "net1", nil)
	if len(f.calls) != 0 {
		t.Fatalf("calls = %v, want none", f.sequence())
	}
}

func TestRunnerDelDeletesInReverseAndGoesOnPastErrors(t *testing.T) {
	errA, errCluster := errors.New("a gone wrong"), errors.New("cluster gone wrong")
	f := &fakeCNI{fail: map[string]error{"DEL net1": errA, "DEL eth0": errCluster}}
	r := threeNetworks()
	err := (&Runner{CNI: f}).Del(context.Background(), r)
	if want := []string{"DEL net-b/net2", "DEL net-a/net1", "DEL cluster/eth0"}; !reflect.DeepEqual(f.sequence(), want) {
		t.Fatalf("calls = %v\nwant %v", f.sequence(), want)
	}
	if !errors.Is(err, errA) || !errors.Is(err, errCluster) {
		t.Fatalf("Del = %v, want both failures joined", err)
	}
	for _, want := range []string{"delete network ns1/net-a (net1): a gone wrong", "delete network ns1/cluster (eth0): cluster gone wrong"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Del error %q does not contain %q", err, want)
		}
	}
}

func TestRunnerDelSucceedsWhenEveryDelegateDoes(t *testing.T) {
	f := &fakeCNI{}
	if err := (&Runner{CNI: f}).Del(context.Background(), threeNetworks()); err != nil {
		t.Fatal(err)
	}
	if err := (&Runner{CNI: f}).Del(context.Background(), &Record{ContainerID: "c1"}); err != nil {
		t.Fatalf("Del of a record without delegates = %v", err)
	}
	if len(f.calls) != 3 {
		t.Fatalf("calls = %v, want 3 DELs", f.sequence())
	}
}

// chain is a delegate whose list runs the plugin types in order.
func chain(name, ifName, cniVersion string, pluginTypes ...string) Delegate {
	var plugins []string
	for _, pt := range pluginTypes {
		plugins = append(plugins, fmt.Sprintf(`{"type":%q}`, pt))
	}
	return Delegate{
		Network: "ns1/" + name, Name: name, IfName: ifName,
		ConfList: json.RawMessage(fmt.Sprintf(`{"cniVersion":%q,"name":%q,"plugins":[%s]}`, cniVersion, name, strings.Join(plugins, ","))),
	}
}

func TestRunnerDelDelegateGoesOnPastAFailingPluginAndKeepsTheCachedResult(t *testing.T) {
	missing := errors.New(`failed to find plugin "gone" in path [/opt/cni/bin]`)
	f := &fakeCNI{fail: map[string]error{"DEL net1 gone": missing}}
	r := threeNetworks()
	d := chain("net-a", "net1", "1.0.0", "macvlan", "gone", "tuning")
	err := (&Runner{CNI: f}).DelDelegate(context.Background(), r, &d)
	checkDelegateError(t, err, "delete", "ns1/net-a", "net1", missing)
	var got []string
	for _, c := range f.calls {
		got = append(got, c.plugin)
	}
	if want := []string{"tuning", "gone", "macvlan"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("DEL ran plugins %v, want %v: every plugin, in reverse, past the failure", got, want)
	}
	if len(f.forgotten) != 0 {
		t.Fatalf("cached result removed (%v) although a plugin's DEL failed", f.forgotten)
	}
}

func TestRunnerDelDelegateGivesEveryPluginTheCachedResultFrom040On(t *testing.T) {
	for _, v := range []string{"0.3.1", "0.4.0", "1.0.0", "1.1.0"} {
		t.Run(v, func(t *testing.T) {
			cached := &current.Result{CNIVersion: v, Interfaces: []*current.Interface{{Name: "net1"}}}
			f := &fakeCNI{cached: map[string]types.Result{"net-a/net1": cached}}
			d := chain("net-a", "net1", v, "macvlan", "tuning")
			if err := (&Runner{CNI: f}).DelDelegate(context.Background(), threeNetworks(), &d); err != nil {
				t.Fatal(err)
			}
			wantPrev := v != "0.3.1"
			for _, c := range f.calls {
				if got := c.prev != nil; got != wantPrev {
					t.Errorf("DEL of %s got prevResult %v, want one: %v", c.plugin, c.prev, wantPrev)
				}
			}
			if want := []string{"net-a/net1"}; !reflect.DeepEqual(f.forgotten, want) {
				t.Fatalf("forgotten = %v, want %v once every plugin succeeded", f.forgotten, want)
			}
		})
	}
}

func TestRunnerCheckSkipsDelegatesBeforeCNIVersion040(t *testing.T) {
	f := &fakeCNI{}
	r := threeNetworks()
	r.Delegates = []Delegate{
		testDelegate("old", "eth0", "0.3.1"),
		testDelegate("v040", "net1", "0.4.0"),
		testDelegate("v100", "net2", "1.0.0"),
		testDelegate("v110", "net3", "1.1.0"),
		testDelegate("older", "net4", "0.3.0"),
	}
	if err := (&Runner{CNI: f}).Check(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if want := []string{"CHECK v040/net1", "CHECK v100/net2", "CHECK v110/net3"}; !reflect.DeepEqual(f.sequence(), want) {
		t.Fatalf("calls = %v\nwant %v", f.sequence(), want)
	}
}

func TestRunnerCheckFailureNamesNetworkAndInterface(t *testing.T) {
	bad := &types.Error{Code: 42, Msg: "address missing"}
	f := &fakeCNI{fail: map[string]error{"CHECK net1": bad}}
	err := (&Runner{CNI: f}).Check(context.Background(), threeNetworks())
	checkDelegateError(t, err, "check", "ns1/net-a", "net1", bad)
	var cerr *types.Error
	if !errors.As(err, &cerr) || cerr.Code != 42 {
		t.Fatalf("Check = %v, want the delegate's CNI error code 42 kept", err)
	}
	if want := []string{"CHECK cluster/eth0", "CHECK net-a/net1"}; !reflect.DeepEqual(f.sequence(), want) {
		t.Fatalf("calls = %v\nwant %v (stop at the first failure)", f.sequence(), want)
	}
}

func TestRunnerStatusAsksEveryDelegateAndStopsAtTheFirstFailure(t *testing.T) {
	down := errors.New("not ready")
	f := &fakeCNI{fail: map[string]error{"STATUS net-a": down}}
	r := threeNetworks()
	err := (&Runner{CNI: f}).Status(context.Background(), r.Delegates)
	checkDelegateError(t, err, "status", "ns1/net-a", "net1", down)
	if want := []string{"STATUS cluster/", "STATUS net-a/"}; !reflect.DeepEqual(f.sequence(), want) {
		t.Fatalf("calls = %v\nwant %v", f.sequence(), want)
	}
	f = &fakeCNI{}
	if err := (&Runner{CNI: f}).Status(context.Background(), r.Delegates); err != nil || len(f.calls) != 3 {
		t.Fatalf("Status = %v after %v, want success after 3 calls", err, f.sequence())
	}
}

func TestRunnerGCDedupesByNameAndConfListAndPassesValidAttachments(t *testing.T) {
	a := testDelegate("net-a", "net1", "1.1.0")
	aOtherPod := testDelegate("net-a", "net3", "1.1.0") // same network, another interface
	aChanged := testDelegate("net-a", "net1", "1.1.0")
	aChanged.ConfList = json.RawMessage(`{"cniVersion":"1.1.0","name":"net-a","plugins":[{"type":"fake","mtu":9000}]}`)
	b := testDelegate("net-b", "net2", "1.1.0")
	cluster := testDelegate("cluster", "eth0", "1.1.0")
	valid := map[string][]types.GCAttachment{
		"net-a":   {{ContainerID: "c1", IfName: "net1"}, {ContainerID: "c2", IfName: "net3"}},
		"cluster": {{ContainerID: "c1", IfName: "eth0"}},
	}
	f := &fakeCNI{}
	if err := (&Runner{CNI: f}).GC(context.Background(), []Delegate{a, cluster, aOtherPod, b, aChanged, cluster}, valid); err != nil {
		t.Fatal(err)
	}
	if want := []string{"GC net-a/", "GC cluster/", "GC net-b/", "GC net-a/"}; !reflect.DeepEqual(f.sequence(), want) {
		t.Fatalf("calls = %v\nwant %v", f.sequence(), want)
	}
	for _, c := range f.calls {
		if got := c.gc.ValidAttachments; !reflect.DeepEqual(got, valid[c.network]) {
			t.Errorf("GC of %s got valid attachments %v, want %v", c.network, got, valid[c.network])
		}
	}
}

func TestRunnerGCGoesOnPastFailuresAndJoinsThem(t *testing.T) {
	errA, errB := errors.New("gc a"), errors.New("gc b")
	f := &fakeCNI{fail: map[string]error{"GC net-a": errA, "GC net-b": errB}}
	r := threeNetworks()
	broken := testDelegate("broken", "net9", "1.1.0")
	broken.ConfList = json.RawMessage(`not json`)
	err := (&Runner{CNI: f}).GC(context.Background(), append(r.Delegates, broken), nil)
	if !errors.Is(err, errA) || !errors.Is(err, errB) || !strings.Contains(err.Error(), "parse network ns1/broken (net9)") {
		t.Fatalf("GC = %v, want both GC failures and the parse failure joined", err)
	}
	if len(f.calls) != 3 {
		t.Fatalf("calls = %v, want GC of all three parsable networks", f.sequence())
	}
}

func TestErrorMessageAndUnwrap(t *testing.T) {
	cause := errors.New("plugin said no")
	err := &Error{Network: "ns1/net-a", IfName: "net1", Op: "add", Err: cause}
	if got, want := err.Error(), "add network ns1/net-a (net1): plugin said no"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, cause) {
		t.Fatal("Error does not unwrap to its cause")
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/routing"
)

var specVersions = []string{"0.3.1", "0.4.0", "1.0.0", "1.1.0"}

// lifecycleConfigs covers both modes and every way of finding the host's
// addresses and the master.
var lifecycleConfigs = []struct {
	name string
	conf map[string]any
}{
	{"veth/hostInterface", hostRouteConf("veth", map[string]any{"hostInterface": master, "containerInterface": "veth0"})},
	{"veth/route-discovery+ipMasq", hostRouteConf("veth", map[string]any{"ipMasq": true, "extraCIDRs": []string{"172.16.0.0/16"}})},
	{"veth/hostIPs+mtu", hostRouteConf("veth", map[string]any{"hostIPs": []string{hostV4, hostV6}, "mtu": 1400, "containerInterface": "host0"})},
	{"macvlan-bridge/master", hostRouteConf("macvlan-bridge", map[string]any{"master": master, "bridge": "uplink.host"})},
	{"macvlan-bridge/discovered+ipMasq", hostRouteConf("macvlan-bridge", map[string]any{"ipMasq": true})},
}

// TestLifecycleLeavesNodeAsItWas runs ADD, a repeated ADD, CHECK and DEL at
// every CNI version and config, and requires the node's links, routes of
// every table, rules, permanent neighbours, nftables, iptables and sysctls
// to be exactly as before ADD. A second DEL, and a DEL after the pod's
// netns is gone, must succeed.
func TestLifecycleLeavesNodeAsItWas(t *testing.T) {
	t.Parallel()
	for _, ver := range specVersions {
		t.Run(ver, func(t *testing.T) {
			t.Parallel()
			n := newNode(t)
			for i, cfg := range lifecycleConfigs {
				t.Run(cfg.name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					list := conflist(t, n, ver, cfg.conf)
					before := snapshot(t, n.NS)

					pod, res := addPod(t, n, list, fmt.Sprintf("lc-%s-%d", ver, i))
					assertResult(t, pod, res, cfg.conf)
					if snapshot(t, n.NS).Diff(before) == "" {
						t.Fatal("ADD changed nothing on the node")
					}
					// A runtime may repeat ADD; host-route alone must converge.
					rerunHostRoute(t, n, pod, ver, cfg.conf, res)
					if testutils.SpecVersionHasCHECK(ver) {
						if err := n.Check(ctx, list, pod.RuntimeConf()); err != nil {
							t.Fatalf("CHECK: %v", err)
						}
					}
					if err := n.Del(ctx, list, pod.RuntimeConf()); err != nil {
						t.Fatalf("DEL: %v", err)
					}
					if d := before.Diff(snapshot(t, n.NS)); d != "" {
						t.Fatalf("node state after DEL differs from before ADD:\n%s", d)
					}
					if err := n.Del(ctx, list, pod.RuntimeConf()); err != nil {
						t.Fatalf("second DEL: %v", err)
					}

					gone, _ := addPod(t, n, list, fmt.Sprintf("gone-%s-%d", ver, i))
					testenv.RemoveNS(gone.NS)
					if err := n.Del(ctx, list, gone.RuntimeConf()); err != nil {
						t.Fatalf("DEL with the netns gone: %v", err)
					}
					if d := before.Diff(snapshot(t, n.NS)); d != "" {
						t.Fatalf("node state after DEL of a pod whose netns is gone differs from before ADD:\n%s", d)
					}
				})
			}
		})
	}
}

// TestCheckReportsMissingRoute proves CHECK looks at the routes: it fails
// once a pod route host-route added is removed.
func TestCheckReportsMissingRoute(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, mode := range []string{"veth", "macvlan-bridge"} {
		t.Run(mode, func(t *testing.T) {
			list := conflist(t, n, "1.1.0", hostRouteConf(mode, map[string]any{"hostInterface": master}))
			pod, _ := addPod(t, n, list, "check-"+mode)
			defer func() { _ = n.Del(ctx, list, pod.RuntimeConf()) }()
			if err := n.Check(ctx, list, pod.RuntimeConf()); err != nil {
				t.Fatalf("CHECK right after ADD: %v", err)
			}
			if _, err := testenv.RunIn(pod.NS, "ip", "route", "del", "10.96.0.0/12"); err != nil {
				t.Fatal(err)
			}
			if err := n.Check(ctx, list, pod.RuntimeConf()); err == nil {
				t.Fatal("CHECK passed with the Service route gone from the pod")
			}
		})
	}
}

// TestConcurrentPodsDoNotCollide adds 20 pods at once, checks each reaches
// its host, deletes them at once, and requires the node as it was.
func TestConcurrentPodsDoNotCollide(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"veth", "macvlan-bridge"} {
		t.Run(mode, func(t *testing.T) {
			n := newNode(t)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			list := conflist(t, n, "1.1.0", hostRouteConf(mode, map[string]any{"hostInterface": master}))
			before := snapshot(t, n.NS)
			const pods = 20
			all := make([]*testenv.Pod, pods)
			for i := range all {
				all[i] = testenv.NewPod(t, fmt.Sprintf("conc-%02d", i), "eth0")
			}
			run(t, pods, func(i int) error {
				_, err := n.Add(ctx, list, all[i].RuntimeConf())
				return err
			})
			run(t, pods, func(i int) error {
				if err := n.Check(ctx, list, all[i].RuntimeConf()); err != nil {
					return err
				}
				return testenv.Ping(all[i].NS, net.ParseIP(hostV4), reachable)
			})
			run(t, pods, func(i int) error { return n.Del(ctx, list, all[i].RuntimeConf()) })
			if d := before.Diff(snapshot(t, n.NS)); d != "" {
				t.Fatalf("node state after 20 concurrent DELs differs from before:\n%s", d)
			}
		})
	}
}

// TestChurnKeepsTheSharedPathForLivePods deletes 10 pods while adding 10
// others at once, so that the last DEL of the old set races the first ADDs
// of the new one on the shared sub-interface. Every new pod must then pass
// CHECK and reach its host, and deleting them must leave the node as it was.
func TestChurnKeepsTheSharedPathForLivePods(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"veth", "macvlan-bridge"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			n := newNode(t)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			list := conflist(t, n, "1.1.0", hostRouteConf(mode, map[string]any{"hostInterface": master}))
			before := snapshot(t, n.NS)
			const half = 10
			old, fresh := make([]*testenv.Pod, half), make([]*testenv.Pod, half)
			for i := range half {
				old[i] = testenv.NewPod(t, fmt.Sprintf("old-%02d", i), "eth0")
				fresh[i] = testenv.NewPod(t, fmt.Sprintf("new-%02d", i), "eth0")
			}
			run(t, half, func(i int) error {
				_, err := n.Add(ctx, list, old[i].RuntimeConf())
				return err
			})
			run(t, 2*half, func(i int) error {
				if i < half {
					return n.Del(ctx, list, old[i].RuntimeConf())
				}
				_, err := n.Add(ctx, list, fresh[i-half].RuntimeConf())
				return err
			})
			run(t, half, func(i int) error {
				if err := n.Check(ctx, list, fresh[i].RuntimeConf()); err != nil {
					return err
				}
				return testenv.Ping(fresh[i].NS, net.ParseIP(hostV4), reachable)
			})
			run(t, half, func(i int) error { return n.Del(ctx, list, fresh[i].RuntimeConf()) })
			if d := before.Diff(snapshot(t, n.NS)); d != "" {
				t.Fatalf("node state after the churn differs from before:\n%s", d)
			}
		})
	}
}

// run calls fn for 0..count-1 at once and fails the test on any error.
func run(t *testing.T, count int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, count)
	for i := 0; i < count; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("pod %d: %v", i, err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

func snapshot(t testing.TB, netns ns.NetNS) testenv.NetState {
	t.Helper()
	s, err := testenv.Snapshot(netns)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return s
}

// assertResult checks the result keeps the pod's IPs as they are on its
// interface and, in veth mode, lists both veth ends.
func assertResult(t *testing.T, pod *testenv.Pod, res *current.Result, conf map[string]any) {
	t.Helper()
	onLink, err := testenv.LinkAddrs(pod.NS, pod.IfName)
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, ipc := range res.IPs {
		got = append(got, ipc.Address.IP.String())
	}
	for _, ip := range onLink {
		want = append(want, ip.String())
	}
	sort.Strings(got)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("result IPs %v, pod interface has %v", got, want)
	}
	if conf["mode"] != "veth" {
		return
	}
	podEnd, _ := conf["containerInterface"].(string)
	if podEnd == "" {
		podEnd = routing.DefaultContainerInterface
	}
	hostEnd := routing.HostVethName(pod.ContainerID, pod.IfName)
	found := map[string]bool{}
	for _, iface := range res.Interfaces {
		switch {
		case iface.Name == hostEnd && iface.Sandbox == "":
			found["host"] = true
		case iface.Name == podEnd && iface.Sandbox == pod.NS.Path():
			found["pod"] = true
		}
	}
	if !found["host"] || !found["pod"] {
		t.Errorf("result interfaces %+v lack host veth %s or pod veth %s", res.Interfaces, hostEnd, podEnd)
	}
}

// rerunHostRoute repeats host-route's ADD alone, as a runtime retrying a
// chain would, and requires the same result.
func rerunHostRoute(t *testing.T, n *testenv.Node, pod *testenv.Pod, ver string, conf map[string]any, res *current.Result) {
	t.Helper()
	prev, err := res.GetAsVersion(ver)
	if err != nil {
		t.Fatal(err)
	}
	var again, first map[string]any
	b, _ := json.Marshal(prev)
	_ = json.Unmarshal(b, &first)
	// The first ADD's result holds the veth already; the chain's input did not.
	stdin := hostRouteStdin(t, ver, conf, withoutHostRouteIfaces(t, prev, conf))
	out, err := execHostRoute(n, "ADD", pod, stdin)
	if err != nil {
		t.Fatalf("repeated ADD: %v", err)
	}
	_ = json.Unmarshal(out, &again)
	if fmt.Sprint(again) != fmt.Sprint(first) {
		t.Fatalf("repeated ADD returned\n%v\nfirst ADD returned\n%v", again, first)
	}
}

func withoutHostRouteIfaces(t *testing.T, res types.Result, conf map[string]any) types.Result {
	t.Helper()
	cur, err := current.NewResultFromResult(res)
	if err != nil {
		t.Fatal(err)
	}
	if conf["mode"] == "veth" {
		cur.Interfaces = cur.Interfaces[:len(cur.Interfaces)-2]
	}
	out, err := cur.GetAsVersion(res.Version())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// hostRouteStdin is host-route's stdin: conf with its version, name and,
// unless prev is nil, a prevResult (a types.Result or raw JSON).
func hostRouteStdin(t testing.TB, ver string, conf map[string]any, prev any) []byte {
	t.Helper()
	c := map[string]any{"cniVersion": ver, "name": "underlay"}
	for k, v := range conf {
		c[k] = v
	}
	if r, ok := prev.(types.Result); (ok && r != nil) || (!ok && prev != nil) {
		c["prevResult"] = prev
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// execHostRoute runs the built binary from inside the node, as a runtime.
func execHostRoute(n *testenv.Node, cmd string, pod *testenv.Pod, stdin []byte) ([]byte, error) {
	var out []byte
	err := n.NS.Do(func(ns.NetNS) error {
		var err error
		out, err = testenv.ExecPlugin(context.Background(), filepath.Join(n.CNIPath, "host-route"), testenv.PluginEnv{
			Command: cmd, ContainerID: pod.ContainerID, NetNS: pod.NS.Path(), IfName: pod.IfName, Path: n.CNIPath,
		}, stdin)
		return err
	})
	return out, err
}

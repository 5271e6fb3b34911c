package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

const benchPods = 100

// BenchmarkHostRoute times host-route alone, ADD then DEL, run as a
// runtime runs it, for a fixed 100 dual-stack pods per mode, and reports
// the medians. Each pod's macvlan is made with netlink beforehand so that
// neither macvlan nor IPAM is in the figures. b.N is ignored: one run is
// 100 pods.
func BenchmarkHostRoute(b *testing.B) {
	for _, mode := range []string{"veth", "macvlan-bridge"} {
		b.Run(mode, func(b *testing.B) {
			n := newNode(b)
			conf := hostRouteConf(mode, map[string]any{"hostInterface": master})
			pods := make([]*testenv.Pod, benchPods)
			stdins := make([][]byte, benchPods)
			for i := range pods {
				pods[i] = testenv.NewPod(b, fmt.Sprintf("bench-%03d", i), "eth0")
				stdins[i] = hostRouteStdin(b, "1.1.0", conf, json.RawMessage(benchMacvlan(b, n, pods[i], i)))
			}
			b.ResetTimer()
			adds := timeEach(b, n, "ADD", pods, stdins)
			dels := timeEach(b, n, "DEL", pods, stdins)
			b.StopTimer()
			b.ReportMetric(adds.Percentile(0.50), "add-p50-ms")
			b.ReportMetric(adds.Percentile(0.90), "add-p90-ms")
			b.ReportMetric(dels.Percentile(0.50), "del-p50-ms")
			b.ReportMetric(dels.Percentile(0.90), "del-p90-ms")
		})
	}
}

// benchMacvlan gives the pod an eth0 macvlan on the master with the i-th
// address of each family, as macvlan with IPAM would, and returns the
// prevResult describing it.
func benchMacvlan(b *testing.B, n *testenv.Node, pod *testenv.Pod, i int) string {
	b.Helper()
	v4 := fmt.Sprintf("10.10.20.%d/24", 10+i)
	v6 := fmt.Sprintf("fd10::1:%x/64", i+1)
	var mac string
	err := n.NS.Do(func(ns.NetNS) error {
		parent, err := netlink.LinkByName(master)
		if err != nil {
			return err
		}
		mv := &netlink.Macvlan{LinkAttrs: netlink.LinkAttrs{Name: "eth0", ParentIndex: parent.Attrs().Index,
			Namespace: netlink.NsFd(int(pod.NS.Fd()))}, Mode: netlink.MACVLAN_MODE_BRIDGE}
		return netlink.LinkAdd(mv)
	})
	if err != nil {
		b.Fatalf("pod %d macvlan: %v", i, err)
	}
	for _, cidr := range []string{v4, v6} {
		testenv.AddAddr(b, pod.NS, "eth0", cidr)
	}
	err = pod.NS.Do(func(ns.NetNS) error {
		link, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		mac = link.Attrs().HardwareAddr.String()
		return netlink.LinkSetUp(link)
	})
	if err != nil {
		b.Fatalf("pod %d macvlan: %v", i, err)
	}
	return fmt.Sprintf(`{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","mac":%q,"sandbox":%q}],"ips":[{"address":%q,"interface":0},{"address":%q,"interface":0}]}`,
		mac, pod.NS.Path(), v4, v6)
}

// timeEach runs cmd for each pod in turn from inside the node and returns
// the wall time of each run.
func timeEach(b *testing.B, n *testenv.Node, cmd string, pods []*testenv.Pod, stdins [][]byte) testenv.Latencies {
	b.Helper()
	bin := filepath.Join(n.CNIPath, "host-route")
	out := make(testenv.Latencies, len(pods))
	for i, pod := range pods {
		err := n.NS.Do(func(ns.NetNS) error {
			start := time.Now()
			_, err := testenv.ExecPlugin(context.Background(), bin, testenv.PluginEnv{
				Command: cmd, ContainerID: pod.ContainerID, NetNS: pod.NS.Path(), IfName: pod.IfName, Path: n.CNIPath,
			}, stdins[i])
			out[i] = time.Since(start)
			return err
		})
		if err != nil {
			b.Fatalf("%s pod %d: %v", cmd, i, err)
		}
	}
	return out
}

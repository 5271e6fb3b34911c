package main_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/plugins/pkg/ns"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/daemon"
)

// benchPods is how many pods each benchmark attaches; the issue asks for
// at least 100.
const benchPods = 100

// directLists are the same two delegates meta-cni runs for a benchmark
// pod, as a runtime would call them without meta-cni.
func (f *fixture) directLists() (cluster, macvlan *libcni.NetworkConfigList) {
	f.t.Helper()
	data, err := os.ReadFile(filepath.Join(f.confDir, "10-cbr0.conflist"))
	if err != nil {
		f.t.Fatal(err)
	}
	cluster, err = libcni.ConfListFromBytes(data)
	if err != nil {
		f.t.Fatal(err)
	}
	conf, err := libcni.ConfFromBytes([]byte(f.macvlanConfig("0.3.1", "192.168.91.0/24", "ens3")))
	if err != nil {
		f.t.Fatal(err)
	}
	if conf, err = libcni.InjectConf(conf, map[string]any{"name": "macvlan-a"}); err != nil {
		f.t.Fatal(err)
	}
	macvlan, err = libcni.ConfListFromConf(conf)
	if err != nil {
		f.t.Fatal(err)
	}
	return cluster, macvlan
}

type timings struct {
	mu  sync.Mutex
	add []time.Duration
	del []time.Duration
}

func (t *timings) record(add, del time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.add = append(t.add, add)
	t.del = append(t.del, del)
}

func pct(d []time.Duration, p float64) float64 { return testenv.Latencies(d).Percentile(p) }

// runPods attaches benchPods pods, workers at a time. For each pod it
// times an ADD and a DEL through meta-cni, and the same two delegates
// called directly, alternating so both see the same machine state.
func runPods(b *testing.B, f *fixture, workers int) (meta, direct *timings) {
	ctx := context.Background()
	list := f.metaConfList("1.0.0")
	clusterList, macvlanList := f.directLists()
	meta, direct = &timings{}, &timings{}
	sandboxes := make(chan *sandbox, benchPods)
	for i := 0; i < benchPods; i++ {
		sandboxes <- f.newPod(fmt.Sprintf("bench-%d-%d", workers, i), map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a"})
	}
	close(sandboxes)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sb := range sandboxes {
				start := time.Now()
				if _, err := f.node.Add(ctx, list, sb.rt); err != nil {
					errs <- err
					return
				}
				added := time.Since(start)
				if f.nodeAPI != nil && workers == 1 {
					// Not timed: let the daemon apply the patch and send
					// the Event, so its work does not fall into the DEL or
					// the direct run. Asked in-process, as polling the API
					// server would itself load the machine. 8 at a time,
					// one pod's background work overlaps the others', as
					// on a node.
					if err := waitIdle(f.nodeAPI); err != nil {
						errs <- fmt.Errorf("pod %s: %w", sb.pod.Name, err)
						return
					}
				}
				start = time.Now()
				if err := f.node.Del(ctx, list, sb.rt); err != nil {
					errs <- err
					return
				}
				meta.record(added, time.Since(start))

				rt := *sb.rt
				rt.ContainerID += "d"
				net1 := rt
				net1.IfName = "net1"
				start = time.Now()
				if _, err := f.node.Add(ctx, clusterList, &rt); err != nil {
					errs <- err
					return
				}
				if _, err := f.node.Add(ctx, macvlanList, &net1); err != nil {
					errs <- err
					return
				}
				added = time.Since(start)
				start = time.Now()
				if err := f.node.Del(ctx, macvlanList, &net1); err != nil {
					errs <- err
					return
				}
				if err := f.node.Del(ctx, clusterList, &rt); err != nil {
					errs <- err
					return
				}
				direct.record(added, time.Since(start))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return meta, direct
}

// waitIdle waits for the node API to finish its background work.
func waitIdle(n *daemon.NodeAPI) error {
	deadline := time.Now().Add(10 * time.Second)
	for !n.Idle() {
		if time.Now().After(deadline) {
			return fmt.Errorf("node API still busy 10s after ADD")
		}
		time.Sleep(100 * time.Microsecond)
	}
	return nil
}

// checkStatuses fails unless every pod got its network-status.
func checkStatuses(b *testing.B, f *fixture, prefix string) {
	pods, err := f.kube.Clientset().CoreV1().Pods(f.namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, p := range pods.Items {
		if strings.HasPrefix(p.Name, prefix) {
			if _, ok := p.Annotations[nadv1.NetworkStatusAnnot]; !ok {
				b.Errorf("pod %s has no network-status", p.Name)
			}
			n++
		}
	}
	if n != benchPods {
		b.Errorf("%d pods named %s*, want %d", n, prefix, benchPods)
	}
}

func reportPods(b *testing.B, meta, direct *timings) {
	b.ReportMetric(pct(meta.add, 0.50), "add-p50-ms")
	b.ReportMetric(pct(meta.add, 0.95), "add-p95-ms")
	b.ReportMetric(pct(meta.del, 0.50), "del-p50-ms")
	b.ReportMetric(pct(direct.add, 0.50), "direct-add-p50-ms")
	b.ReportMetric(pct(direct.add, 0.95), "direct-add-p95-ms")
	b.ReportMetric(pct(direct.del, 0.50), "direct-del-p50-ms")
	b.ReportMetric(pct(meta.add, 0.50)-pct(direct.add, 0.50), "overhead-add-p50-ms")
	b.ReportMetric(pct(meta.del, 0.50)-pct(direct.del, 0.50), "overhead-del-p50-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkPodAddSequential is the two-network pod (bridge+host-local
// cluster network, macvlan+host-local extra network) against the local
// kube-apiserver, one pod at a time.
//
// Sub-benchmark "standalone" is the plugin on its own, with a kubeconfig;
// "node-api" is the chart's default, where the plugin's API calls go
// through meta-cni-daemon's node API socket.
func BenchmarkPodAddSequential(b *testing.B) { benchPodAdd(b, 1) }

// BenchmarkPodAddConcurrent8 is the same with 8 pods in flight.
func BenchmarkPodAddConcurrent8(b *testing.B) { benchPodAdd(b, 8) }

func benchPodAdd(b *testing.B, workers int) {
	for _, mode := range []string{"standalone", "node-api"} {
		b.Run(mode, func(b *testing.B) {
			f := newFixture(b)
			if mode == "node-api" {
				f.startNodeAPI()
			}
			for i := 0; i < b.N; i++ {
				meta, direct := runPods(b, f, workers)
				if f.nodeAPI != nil {
					if err := waitIdle(f.nodeAPI); err != nil {
						b.Fatal(err)
					}
				}
				checkStatuses(b, f, fmt.Sprintf("bench-%d-", workers))
				reportPods(b, meta, direct)
			}
		})
	}
}

// BenchmarkPeakRSS runs the built meta-cni binary once for ADD the way a
// runtime execs it and reports the peak resident set of the process tree
// (meta-cni and the delegates it waited for) from wait4's rusage.
func BenchmarkPeakRSS(b *testing.B) {
	for _, mode := range []string{"standalone", "node-api"} {
		b.Run(mode, func(b *testing.B) {
			f := newFixture(b)
			if mode == "node-api" {
				f.startNodeAPI()
			}
			peakRSS(b, f)
		})
	}
}

func peakRSS(b *testing.B, f *fixture) {
	list := f.metaConfList("1.0.0")
	// A runtime hands the plugin its conf with the list's name and version.
	conf, err := libcni.InjectConf(list.Plugins[0], map[string]any{"name": list.Name, "cniVersion": list.CNIVersion})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		sb := f.newPod(fmt.Sprintf("rss-%d", i), map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a"})
		env := testenv.PluginEnv{Command: "ADD", ContainerID: sb.rt.ContainerID, NetNS: sb.rt.NetNS, IfName: "eth0",
			Args: fmt.Sprintf("IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s", sb.pod.Namespace, sb.pod.Name), Path: f.node.CNIPath}
		var usage *syscall.Rusage
		err := f.node.NS.Do(func(ns.NetNS) error {
			var err error
			usage, err = testenv.ExecPluginUsage(context.Background(), filepath.Join(f.node.CNIPath, "meta-cni"), env, conf.Bytes)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(usage.Maxrss)/1024, "peak-rss-MiB")
		b.ReportMetric(0, "ns/op")
		if err := f.node.Del(context.Background(), list, sb.rt); err != nil {
			b.Fatal(err)
		}
	}
}

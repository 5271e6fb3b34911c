package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// runADDs runs n ADDs of new containers through a plugin binary with conc
// processes at a time and reports allocations/s and p50/p95 latency: what a
// runtime sees, process start included.
func runADDs(b *testing.B, n, conc int, add func(i int) error) {
	testenv.ReportThroughput(b, n, conc, "allocs/s", add)
}

// BenchmarkAddThroughBinary: 400 ADDs from a /16 through the built binary,
// at concurrency 1 and 8, against one and three etcd members. b.N is
// ignored beyond 1; run with -benchtime 1x.
func BenchmarkAddThroughBinary(b *testing.B) {
	const n = 400
	for _, members := range []int{1, 3} {
		for _, conc := range []int{1, 8} {
			b.Run(fmt.Sprintf("etcd=%d/conc=%d", members, conc), func(b *testing.B) {
				c := testenv.StartEtcdClusterRetry(b, members, nil)
				r := newRig(b, c)
				conf := r.conf("1.0.0", map[string]any{"subnet": "10.64.0.0/16"})
				r.mustExec("ADD", "warmup", "", conf)
				runADDs(b, n, conc, func(i int) error {
					_, err := r.exec("ADD", fmt.Sprint("bench-", i), "K8S_POD_NAMESPACE=bench;K8S_POD_NAME=p", conf)
					return err
				})
			})
		}
	}
}

// BenchmarkHostLocalThroughBinary is the same load on host-local, the
// file-based single-node IPAM, for scale.
func BenchmarkHostLocalThroughBinary(b *testing.B) {
	const n = 400
	bin := filepath.Join(testenv.MustCNIPath(b), "host-local")
	for _, conc := range []int{1, 8} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			conf := []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":"bench","type":"macvlan","ipam":{"type":"host-local","subnet":"10.64.0.0/16","dataDir":%q}}`, b.TempDir()))
			runADDs(b, n, conc, func(i int) error {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_, err := testenv.ExecPlugin(ctx, bin, testenv.PluginEnv{
					Command: "ADD", ContainerID: fmt.Sprint("hl-", i), NetNS: fakeNetNS, IfName: "net1", Path: filepath.Dir(bin),
				}, conf)
				return err
			})
		})
	}
}

// BenchmarkBurstFromTenNodes is issue 10's burst on the IPAM alone: 80
// processes at once (ten nodes' kubelets, 8 each) allocating from one /22
// on three members, 400 ADDs. Besides the rate it reports the etcd writes
// (raft proposals, lost races included) each allocation cost.
func BenchmarkBurstFromTenNodes(b *testing.B) {
	const n, conc = 400, 80
	c := testenv.StartEtcdClusterRetry(b, 3, nil)
	r := newRig(b, c)
	conf := r.conf("1.0.0", map[string]any{"subnet": "10.64.0.0/22"})
	r.mustExec("ADD", "warmup", "", conf)
	before, err := testenv.EtcdProposals(c)
	if err != nil {
		b.Fatal(err)
	}
	runADDs(b, n, conc, func(i int) error {
		_, err := r.exec("ADD", fmt.Sprint("burst-", i), "K8S_POD_NAMESPACE=bench;K8S_POD_NAME=p", conf)
		return err
	})
	after, err := testenv.EtcdProposals(c)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(after-before)/n, "writes/alloc")
}

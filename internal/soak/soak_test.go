package soak

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// implementations is what every scenario runs on, meta-cni first. The
// reference install (Multus thin + Whereabouts) adds itself here.
var implementations = []registered{
	{"meta-cni", func() implementation { return newMetaCNI() }},
}

type registered struct {
	name string
	new  func() implementation
}

// One cluster per implementation serves every scenario of the package:
// ten nodes and their agents take a while to start, and each scenario
// works in its own namespace and pool.
type clusterSlot struct {
	once sync.Once
	c    *cluster
	err  error
	dir  string
}

var (
	clustersMu sync.Mutex
	clusters   = map[string]*clusterSlot{}

	resultsMu sync.Mutex
	results   []Result
)

func TestMain(m *testing.M) {
	code := m.Run()
	clustersMu.Lock()
	for _, s := range clusters {
		if s.c != nil {
			s.c.stop()
		}
		if s.dir != "" && os.Getenv("SOAK_KEEP") == "" {
			os.RemoveAll(s.dir)
		}
	}
	clustersMu.Unlock()
	resultsMu.Lock()
	byImpl := map[string][]Result{}
	for _, r := range results {
		byImpl[r.Implementation] = append(byImpl[r.Implementation], r)
	}
	dir := resultsDir()
	for impl, rs := range byImpl {
		if err := WriteResults(dir, impl, rs); err != nil {
			fmt.Fprintln(os.Stderr, "soak: write results:", err)
			code = 1
		}
	}
	if len(byImpl) > 0 {
		fmt.Fprintf(os.Stderr, "soak: results in %s; tables: go run ./hack/soakreport %s\n", dir, dir)
	}
	resultsMu.Unlock()
	os.Exit(code)
}

// resultsDir is SOAK_RESULTS, or .cache/soak/<scale> in the repo.
func resultsDir() string {
	if d := os.Getenv("SOAK_RESULTS"); d != "" {
		return d
	}
	return filepath.Join(testenv.CacheDir(), "soak", currentScale().Name)
}

// clusterFor starts, once, the cluster with the named implementation on
// every node.
func clusterFor(t *testing.T, name string) *cluster {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireTools(t, "nsenter")
	clustersMu.Lock()
	slot := clusters[name]
	if slot == nil {
		slot = &clusterSlot{}
		clusters[name] = slot
	}
	clustersMu.Unlock()
	slot.once.Do(func() {
		i := slices.IndexFunc(implementations, func(r registered) bool { return r.name == name })
		if i < 0 {
			slot.err = fmt.Errorf("no implementation %q", name)
			return
		}
		slot.dir, slot.err = os.MkdirTemp("", "meta-cni-soak-")
		if slot.err == nil {
			slot.c, slot.err = startCluster(slot.dir, currentScale(), implementations[i].new())
		}
	})
	if slot.err != nil {
		t.Fatalf("start the soak cluster of %s: %v", name, slot.err)
	}
	return slot.c
}

// eachImplementation runs a scenario on every implementation, each on its
// own cluster, as subtests named after them. SOAK_IMPL names one to run
// alone (a full-scale soak of the reference alone can take hours).
func eachImplementation(t *testing.T, scenario func(t *testing.T, c *cluster)) {
	only := os.Getenv("SOAK_IMPL")
	if only != "" && !slices.ContainsFunc(implementations, func(r registered) bool { return r.name == only }) {
		t.Fatalf("SOAK_IMPL=%s: no such implementation", only)
	}
	for _, impl := range implementations {
		if only != "" && impl.name != only {
			continue
		}
		t.Run(impl.name, func(t *testing.T) { scenario(t, clusterFor(t, impl.name)) })
	}
}

// ensureNetwork makes namespace and its NAD "macvlan" over p.
func ensureNetwork(t *testing.T, c *cluster, namespace string, p pool) {
	t.Helper()
	if err := c.kube.EnsureNamespace(namespace); err != nil {
		t.Fatal(err)
	}
	nad := &nadv1.NetworkAttachmentDefinition{ObjectMeta: metav1.ObjectMeta{Name: "macvlan", Namespace: namespace},
		Spec: nadv1.NetworkAttachmentDefinitionSpec{Config: c.impl.networkConfig(c, "macvlan", p)}}
	_, err := c.kube.NADClientset().K8sCniCncfIoV1().NetworkAttachmentDefinitions(namespace).Create(context.Background(), nad, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create NAD %s/macvlan: %v", namespace, err)
	}
}

// convergeDeadline is how long the invariants may take to hold after a
// phase: 2 minutes for meta-cni, whose every violation fails the test; 1
// for the reference, whose leaks that only a DEL clears (Multus's cache
// of a refused ADD, Whereabouts' allocations left by a DEL it answered
// without the API server) would otherwise cost every such check 2 minutes
// of CI for a figure that is the same at 1.
func convergeDeadline(c *cluster) time.Duration {
	if c.impl.underTest() {
		return 2 * time.Minute
	}
	return time.Minute
}

// requireClean converges and fails the test on any violation of the
// implementation under test (the reference's are logged), returning the
// time it took and the duplicates and other violations it found.
func requireClean(t *testing.T, c *cluster, pods []*podRun, what string) (time.Duration, int, int) {
	t.Helper()
	took, v, err := converge(context.Background(), c, pods, convergeDeadline(c))
	if len(v) > 0 {
		report := c.expect(t)
		report("%s: the invariants did not hold within %s", what, convergeDeadline(c))
	}
	if err != nil {
		t.Fatalf("%s: check invariants: %v", what, err)
	}
	report := c.expect(t)
	dups, leaks := 0, 0
	for i, x := range v {
		if x.Kind == duplicateAddress {
			dups++
		} else {
			leaks++
		}
		if i < 20 {
			report("%s: %s", what, x)
		}
	}
	if len(v) > 20 {
		report("%s: and %d more violations", what, len(v)-20)
	}
	return took, dups, leaks
}

// expect is how a scenario reports a broken promise: a failure for the
// implementation under test, a logged figure for the reference.
func (c *cluster) expect(t *testing.T) func(format string, args ...any) {
	if c.impl.underTest() {
		return t.Errorf
	}
	return t.Logf
}

// agentPeakRSS is the largest peak RSS (VmHWM) of the nodes' agents, in MiB.
func agentPeakRSS(c *cluster) float64 {
	peak := 0.0
	for _, n := range c.nodes {
		if pid := c.impl.agentPID(n); pid > 0 {
			if kb := vmHWM(pid); float64(kb)/1024 > peak {
				peak = float64(kb) / 1024
			}
		}
	}
	return peak
}

// vmHWM reads a process's peak resident set size in kB.
func vmHWM(pid int) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return kb
		}
	}
	return 0
}

// newResult starts a scenario's result with the run's facts.
func newResult(c *cluster, scenario string, pods, rounds, poolSize int) Result {
	host, _ := os.Hostname()
	return Result{Scenario: scenario, Implementation: c.impl.name(), Scale: c.scale.Name, Nodes: len(c.nodes),
		Pods: pods, Rounds: rounds, PoolSize: poolSize, Errors: map[string]int{}, Messages: map[string]int{},
		Machine: fmt.Sprintf("%s (%d CPUs, %s/%s)", host, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH),
		Date:    time.Now().UTC().Format(time.RFC3339)}
}

// addPhase folds a phase's figures into r.
func (r *Result) addPhase(ph *phase, isAdd bool) {
	for code, n := range ph.Errors {
		r.Errors[code] += n
	}
	for m, n := range ph.Messages {
		r.Messages[m] += n
	}
	if isAdd {
		r.Adds += ph.Ops
		r.AddsOK += len(ph.Latencies)
		r.Retries += ph.Retries
		return
	}
	r.Dels += ph.Ops
}

// setLatencies sets the ADD and DEL figures: ADDs/s from rate's
// successful ADDs over its wall, the ADD and pod-network percentiles over
// rate and more together, the DEL p50 from del.
func (r *Result) setLatencies(rate, del *phase, more ...*phase) {
	lat := append(testenv.Latencies(nil), rate.Latencies...)
	waits := append(testenv.Latencies(nil), rate.PodNetwork...)
	for _, ph := range more {
		lat, waits = append(lat, ph.Latencies...), append(waits, ph.PodNetwork...)
	}
	if rate.Wall > 0 {
		r.AddsPerSecond = float64(len(rate.Latencies)) / rate.Wall.Seconds()
	}
	r.AddP50Ms, r.AddP95Ms = lat.Percentile(0.50), lat.Percentile(0.95)
	r.PodNetworkP50Ms, r.PodNetworkP95Ms = waits.Percentile(0.50), waits.Percentile(0.95)
	r.DelP50Ms = testenv.Latencies(del.Latencies).Percentile(0.50)
}

func saveResult(r Result) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	results = append(results, r)
}

package main_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// A daemonSocket nobody answers on, as a crashed or not yet started daemon
// leaves it, must not cost the pod its networks: the plugin uses its
// kubeconfig, and the network-status is on the pod when ADD returns.
func TestADDFallsBackToTheKubeconfigWhenTheNodeAPIDoesNotAnswer(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "mcni-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	socket := filepath.Join(dir, "node-api.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	f.metaExtra = map[string]any{"daemonSocket": socket}
	list := f.metaConfList("1.0.0")
	sb := f.newPod("fallback", map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a"})
	if _, err := f.node.Add(ctx, list, sb.rt); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	requireIn(t, addrs(t, sb.ns), "net1", "192.168.91.0/24")
	if _, ok := f.getPod(sb).Annotations[nadv1.NetworkStatusAnnot]; !ok {
		t.Error("no network-status on the pod when the fallback ADD returned")
	}
	logged, _ := os.ReadFile(filepath.Join(f.node.Dir, "meta-cni.log"))
	if !strings.Contains(string(logged), "node API is unavailable") {
		t.Errorf("the fallback was not logged:\n%s", logged)
	}
	if err := f.node.Del(ctx, list, sb.rt); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	f.assertClean(sb)
}

// Through the node API, an API server that is down is reported the same
// way as without it: try again later, and nothing left behind.
func TestADDThroughTheNodeAPIWhileTheAPIServerIsDownAsksToTryAgain(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.startNodeAPI()
	f.metaExtra["apiTimeout"] = "2s"
	list := f.metaConfList("1.0.0")
	sb := f.newPod("later", map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a"})
	f.kube.StopAPIServer()
	defer func() {
		if err := f.kube.Start(); err != nil {
			t.Fatalf("restart kube-apiserver: %v", err)
		}
	}()
	_, err := f.node.Add(ctx, list, sb.rt)
	e := cniErr(t, err)
	if e.Code != types.ErrTryAgainLater {
		t.Fatalf("code %d (%s), want 11", e.Code, e.Msg)
	}
	if !strings.Contains(e.Msg, "pod "+f.namespace+"/later") || !strings.Contains(e.Msg, "kube-apiserver") {
		t.Errorf("message %q does not name the pod and the API server", e.Msg)
	}
	f.assertClean(sb)
}

// Each run of the real binary reports its verb, duration and result to the
// daemon after it has answered, so the daemon's series show pod ADD and DEL
// as the runtime saw them, errors by code included.
func TestEachPluginRunIsReportedToTheDaemonsMetrics(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	n := f.startNodeAPI()
	list := f.metaConfList("1.1.0")
	good := f.newPod("reported", map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a"})
	start := time.Now()
	if _, err := f.node.Add(ctx, list, good.rt); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	addTook := time.Since(start)
	bad := f.newPod("refused", map[string]string{"k8s.v1.cni.cncf.io/networks": "Not_A_Name"})
	if _, err := f.node.Add(ctx, list, bad.rt); cniErr(t, err).Code != types.ErrInvalidNetworkConfig {
		t.Fatalf("ADD of a bad annotation: %v, want code 7", err)
	}
	if err := f.node.Del(ctx, list, good.rt); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	want := map[string]float64{
		`meta_cni_plugin_duration_seconds_count{verb="ADD",result="success"}`: 1,
		`meta_cni_plugin_duration_seconds_count{verb="ADD",result="error"}`:   1,
		`meta_cni_plugin_errors_total{verb="ADD",code="7"}`:                   1,
		`meta_cni_plugin_duration_seconds_count{verb="DEL",result="success"}`: 1,
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(n)
	deadline := time.Now().Add(5 * time.Second)
	for {
		var bad []string
		for series, v := range want {
			if got := metricValue(t, reg, series); got != v {
				bad = append(bad, fmt.Sprintf("%s = %v, want %v", series, got, v))
			}
		}
		if len(bad) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s", strings.Join(bad, "; "))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The reported time is the plugin's own run, inside what the caller waited.
	if sum := metricValue(t, reg, `meta_cni_plugin_duration_seconds_sum{verb="ADD",result="success"}`); sum <= 0 || sum > addTook.Seconds() {
		t.Errorf("reported ADD took %vs; the caller waited %s", sum, addTook)
	}
	f.assertClean(good)
	f.assertClean(bad)
}

func metricValue(t *testing.T, g prometheus.Gatherer, series string) float64 {
	t.Helper()
	v, err := testenv.MetricValue(g, series)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

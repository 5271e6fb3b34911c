package chart

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/daemon"
)

// The chart's three monitoring switches, each off by default.
const (
	serviceMonitorOn = "metrics.serviceMonitor.enabled=true"
	prometheusRuleOn = "metrics.prometheusRule.enabled=true"
	dashboardOn      = "metrics.dashboard.enabled=true"
)

func allMonitoringOn() []string {
	return []string{"--set", serviceMonitorOn, "--set", prometheusRuleOn, "--set", dashboardOn}
}

// render runs helm template with a cluster network set and args, and
// decodes every object it prints.
func render(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	base := []string{"template", "meta-cni", chartDir(), "--namespace", "kube-system", "--kube-version", "1.34.0",
		"--set", "config.clusterNetwork=cbr0"}
	out := helm(t, append(base, args...)...)
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	var objs []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
			return objs
		} else if err != nil {
			t.Fatalf("decode helm template output: %v\n%s", err, out)
		}
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
}

// find returns the object of kind and name, failing the test without one.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("the chart rendered no %s %s", kind, name)
	return nil
}

func convert(t *testing.T, o *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, into); err != nil {
		t.Fatalf("convert %s %s: %v", o.GetKind(), o.GetName(), err)
	}
}

// exportedSeries are the series names the daemon's registry exposes: a
// histogram family's _bucket, _sum and _count, a summary's name, _sum and
// _count, any other family's own name.
func exportedSeries() map[string]bool {
	out := map[string]bool{}
	for name, typ := range daemon.MetricFamilies() {
		switch typ {
		case "histogram":
			out[name+"_bucket"], out[name+"_sum"], out[name+"_count"] = true, true, true
		case "summary":
			out[name], out[name+"_sum"], out[name+"_count"] = true, true, true
		default:
			out[name] = true
		}
	}
	return out
}

// requireExportedSeries fails for an expression that selects no series or
// one the daemon does not export.
func requireExportedSeries(t *testing.T, exprs []testenv.PromExpression) {
	t.Helper()
	exported := exportedSeries()
	for _, e := range exprs {
		if len(e.Metrics) == 0 {
			t.Errorf("%s selects no series: %s", e.Location, e.Expr)
		}
		for _, m := range e.Metrics {
			if !exported[m] {
				t.Errorf("%s uses %s, which meta-cni-daemon does not export", e.Location, m)
			}
		}
	}
}

func TestChartRendersAndLintsWithEachMonitoringSwitch(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  []string
		want []string
	}{
		{"none", nil, nil},
		{"serviceMonitor", []string{"--set", serviceMonitorOn}, []string{"Service/meta-cni-metrics", "ServiceMonitor/meta-cni"}},
		{"prometheusRule", []string{"--set", prometheusRuleOn}, []string{"PrometheusRule/meta-cni"}},
		{"dashboard", []string{"--set", dashboardOn}, []string{"ConfigMap/meta-cni-dashboard"}},
		{"all", allMonitoringOn(), []string{"ConfigMap/meta-cni-dashboard", "PrometheusRule/meta-cni", "Service/meta-cni-metrics", "ServiceMonitor/meta-cni"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, o := range render(t, tc.set...) {
				id := o.GetKind() + "/" + o.GetName()
				if slices.Contains([]string{"Service", "ServiceMonitor", "PrometheusRule"}, o.GetKind()) || id == "ConfigMap/meta-cni-dashboard" {
					got = append(got, id)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("monitoring objects rendered: %v, want %v", got, tc.want)
			}
			helm(t, append([]string{"lint", "--strict", chartDir(), "--kube-version", "1.34.0", "--set", "config.clusterNetwork=cbr0"}, tc.set...)...)
		})
	}
}

func TestMetricsServiceIsHeadlessOnTheDaemonSetsMetricsPort(t *testing.T) {
	for _, port := range []string{"", "9200"} {
		set := []string{"--set", serviceMonitorOn}
		if port != "" {
			set = append(set, "--set", "metrics.port="+port)
		}
		objs := render(t, set...)
		var svc corev1.Service
		var ds appsv1.DaemonSet
		convert(t, find(t, objs, "Service", "meta-cni-metrics"), &svc)
		convert(t, find(t, objs, "DaemonSet", "meta-cni"), &ds)
		c := ds.Spec.Template.Spec.Containers[0]
		i := slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" })
		if i < 0 {
			t.Fatalf("the DaemonSet's container exposes no port named metrics: %v", c.Ports)
		}
		if svc.Spec.ClusterIP != corev1.ClusterIPNone {
			t.Errorf("metrics Service clusterIP %q, want None (headless)", svc.Spec.ClusterIP)
		}
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "metrics" || svc.Spec.Ports[0].Port != c.Ports[i].ContainerPort ||
			svc.Spec.Ports[0].TargetPort != intstr.FromString("metrics") {
			t.Errorf("metrics Service ports %+v, want one named metrics on %d targeting the DaemonSet's port by name", svc.Spec.Ports, c.Ports[i].ContainerPort)
		}
		for k, v := range svc.Spec.Selector {
			if ds.Spec.Template.Labels[k] != v {
				t.Errorf("metrics Service selects %s=%s, which the DaemonSet's pods (%v) lack", k, v, ds.Spec.Template.Labels)
			}
		}
		if len(svc.Spec.Selector) == 0 {
			t.Error("metrics Service has no selector")
		}
	}
}

func TestServiceMonitorScrapesTheMetricsServiceAndAddsTheNodeLabel(t *testing.T) {
	objs := render(t, "--set", serviceMonitorOn, "--set", "metrics.serviceMonitor.labels.release=prom",
		"--set", "metrics.serviceMonitor.interval=15s", "--set", "metrics.serviceMonitor.scrapeTimeout=5s")
	sm := find(t, objs, "ServiceMonitor", "meta-cni")
	svc := find(t, objs, "Service", "meta-cni-metrics")
	if sm.GetLabels()["release"] != "prom" {
		t.Errorf("ServiceMonitor labels %v lack the extra label release=prom", sm.GetLabels())
	}
	match, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	for k, v := range match {
		if svc.GetLabels()[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s, which the metrics Service (%v) lacks", k, v, svc.GetLabels())
		}
	}
	if match["app.kubernetes.io/component"] != "metrics" {
		t.Errorf("ServiceMonitor selector %v would also match other Services of the release", match)
	}
	ns, _, _ := unstructured.NestedStringSlice(sm.Object, "spec", "namespaceSelector", "matchNames")
	if !slices.Equal(ns, []string{"kube-system"}) {
		t.Errorf("ServiceMonitor namespaces %v, want [kube-system]", ns)
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints %v, want one", endpoints)
	}
	ep := endpoints[0].(map[string]any)
	if ep["port"] != "metrics" || ep["path"] != "/metrics" || ep["interval"] != "15s" || ep["scrapeTimeout"] != "5s" {
		t.Errorf("ServiceMonitor endpoint %v, want port metrics, path /metrics, interval 15s, scrapeTimeout 5s", ep)
	}
	relabel, _ := ep["relabelings"].([]any)
	if !slices.ContainsFunc(relabel, func(r any) bool {
		m := r.(map[string]any)
		src, _ := m["sourceLabels"].([]any)
		return m["targetLabel"] == "node" && m["action"] == "replace" && len(src) == 1 && src[0] == "__meta_kubernetes_pod_node_name"
	}) {
		t.Errorf("ServiceMonitor relabelings %v do not copy __meta_kubernetes_pod_node_name to node", relabel)
	}
	for _, o := range render(t, "--set", serviceMonitorOn) {
		if o.GetKind() == "ServiceMonitor" {
			if ep, _, _ := unstructured.NestedSlice(o.Object, "spec", "endpoints"); len(ep) == 1 {
				if _, set := ep[0].(map[string]any)["scrapeTimeout"]; set {
					t.Error("an empty scrapeTimeout is rendered; it should leave Prometheus's default")
				}
			}
		}
	}
}

func TestREADMEMonitoringListsEverySeriesOfTheDaemon(t *testing.T) {
	readme := readmeSection(t, "Monitoring")
	for name, typ := range daemon.MetricFamilies() {
		if !strings.HasPrefix(name, "meta_cni_") {
			continue // client_golang's go_* and process_* series
		}
		if !strings.Contains(readme, "| `"+name+"` | "+typ+" |") {
			t.Errorf("the README's Monitoring section has no row for %s (%s)", name, typ)
		}
	}
}

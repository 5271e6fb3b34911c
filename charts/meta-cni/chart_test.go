// Package chart tests the Helm chart: it lints, renders, and installs
// cleanly on a real kube-apiserver, and the ServiceAccount it creates may do
// what meta-cni does.
package chart

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/config"
)

func chartDir() string { return filepath.Join(testenv.RepoRoot(), "charts", "meta-cni") }

func helm(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := testenv.Helm(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestChartLintsWithoutWarnings(t *testing.T) {
	for name, set := range map[string][]string{
		"no values":                nil,
		"a pinned cluster network": {"--set", "config.clusterNetwork=cbr0"},
	} {
		t.Run(name, func(t *testing.T) {
			helm(t, append([]string{"lint", "--strict", chartDir(), "--kube-version", "1.34.0"}, set...)...)
		})
	}
}

// With no values (or "auto"), the conflist names no cluster network, which
// meta-cni-daemon then picks on each node; a pinned one is rendered as is.
func TestChartLeavesTheClusterNetworkToTheDaemonUnlessPinned(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  []string
		want any
	}{
		{"no values", nil, nil},
		{"auto", []string{"--set", "config.clusterNetwork=auto"}, nil},
		{"empty", []string{"--set", "config.clusterNetwork="}, nil},
		{"pinned", []string{"--set", "config.clusterNetwork=kube-system/calico"}, "kube-system/calico"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := helm(t, append([]string{"template", "meta-cni", chartDir(), "--kube-version", "1.34.0"}, tc.set...)...)
			var conflist string
			var args []string
			dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
			for {
				obj := &unstructured.Unstructured{}
				if err := dec.Decode(&obj.Object); err != nil {
					break
				}
				switch obj.GetKind() {
				case "ConfigMap":
					if c, ok, _ := unstructured.NestedString(obj.Object, "data", "meta-cni.conflist"); ok {
						conflist = c
					}
				case "DaemonSet":
					var ds appsv1.DaemonSet
					convert(t, obj, &ds)
					args = ds.Spec.Template.Spec.Containers[0].Args
				}
			}
			var list struct {
				Plugins []map[string]any `json:"plugins"`
			}
			if err := json.Unmarshal([]byte(conflist), &list); err != nil || len(list.Plugins) != 1 {
				t.Fatalf("conflist %q: %v", conflist, err)
			}
			if got := list.Plugins[0]["clusterNetwork"]; got != tc.want {
				t.Errorf("clusterNetwork %v, want %v", got, tc.want)
			}
			if !slices.Contains(args, "--cluster-network-timeout=10m") {
				t.Errorf("daemon args %v lack --cluster-network-timeout=10m", args)
			}
		})
	}
}

func TestChartRefusesHalfAnEtcdKeyPair(t *testing.T) {
	_, err := testenv.Helm("template", "meta-cni", chartDir(), "--kube-version", "1.34.0",
		"--set", "config.clusterNetwork=cbr0", "--set", "etcd.tls.cert=abc")
	if err == nil || !strings.Contains(err.Error(), "etcd.tls.cert and etcd.tls.key go together") {
		t.Fatalf("render with a cert and no key: %v", err)
	}
}

func TestChartInstallsCleanlyOnARealAPIServer(t *testing.T) {
	testenv.RequireRoot(t)
	k, err := testenv.StartBareKube(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Stop)
	// With the Prometheus Operator's own CRDs served, the ServiceMonitor and
	// PrometheusRule are checked against its schema, strictly, like the rest.
	if err := k.InstallPrometheusOperatorCRDs(); err != nil {
		t.Fatal(err)
	}
	manifests := helm(t, append([]string{"template", "meta-cni", chartDir(), "--namespace", "kube-system", "--include-crds",
		"--kube-version", "1.34.0", "--set", "config.clusterNetwork=cbr0",
		"--set", "etcd.endpoints={https://10.10.20.152:2379}", "--set", "etcd.tls.ca=CA",
		"--set", "etcd.tls.cert=CERT", "--set", "etcd.tls.key=KEY"}, allMonitoringOn()...)...)
	if err := k.EnsureNamespace("kube-system"); err != nil {
		t.Fatal(err)
	}
	objs, err := k.Apply(manifests)
	if err != nil {
		t.Fatalf("install the rendered chart: %v", err)
	}
	byKind := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		if o.GetName() == "meta-cni-dashboard" {
			continue // the other ConfigMap, checked by the dashboard tests
		}
		byKind[o.GetKind()] = o
	}
	for _, kind := range []string{"CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ConfigMap", "Secret", "DaemonSet",
		"Service", "ServiceMonitor", "PrometheusRule"} {
		if byKind[kind] == nil {
			t.Errorf("the chart created no %s", kind)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	t.Run("MetricsServiceIsHeadlessOnTheDaemonSetsMetricsPort", func(t *testing.T) {
		var svc corev1.Service
		var ds appsv1.DaemonSet
		convert(t, byKind["Service"], &svc)
		convert(t, byKind["DaemonSet"], &ds)
		ports := ds.Spec.Template.Spec.Containers[0].Ports
		if svc.Spec.ClusterIP != corev1.ClusterIPNone || len(svc.Spec.Ports) != 1 || len(ports) != 1 ||
			ports[0].Name != "metrics" || svc.Spec.Ports[0].Port != ports[0].ContainerPort {
			t.Errorf("as created, Service clusterIP %q ports %+v; DaemonSet ports %+v", svc.Spec.ClusterIP, svc.Spec.Ports, ports)
		}
	})

	t.Run("ConfigMapHoldsAValidMetaCNIConf", func(t *testing.T) {
		data, _, _ := unstructured.NestedString(byKind["ConfigMap"].Object, "data", "meta-cni.conflist")
		var list struct {
			CNIVersion string            `json:"cniVersion"`
			Name       string            `json:"name"`
			Plugins    []json.RawMessage `json:"plugins"`
		}
		if err := json.Unmarshal([]byte(data), &list); err != nil || len(list.Plugins) != 1 {
			t.Fatalf("conflist %q: %v", data, err)
		}
		var plugin map[string]any
		_ = json.Unmarshal(list.Plugins[0], &plugin)
		plugin["cniVersion"], plugin["name"] = list.CNIVersion, list.Name
		conf, _ := json.Marshal(plugin)
		nc, err := config.Parse(conf)
		if err != nil {
			t.Fatalf("the chart's NetConf does not parse: %v", err)
		}
		if nc.ClusterNetwork != "cbr0" || nc.Kubeconfig != "/etc/cni/net.d/meta-cni.d/meta-cni.kubeconfig" {
			t.Errorf("NetConf %+v", nc)
		}
		// hostPort and bandwidth reach the cluster network once meta-cni is
		// the runtime's conf, as they do through Multus's.
		if !nc.Capabilities["portMappings"] || !nc.Capabilities["bandwidth"] {
			t.Errorf("capabilities %v, want portMappings and bandwidth declared", nc.Capabilities)
		}
		// A busy node must not fill its disk with meta-cni's log.
		o := nc.LogOptions
		if nc.LogFile != "/var/log/meta-cni.log" || nc.LogLevel != "info" || nc.LogToStderr != nil || o == nil ||
			o.MaxSize == nil || *o.MaxSize != 50 || o.MaxBackups == nil || *o.MaxBackups != 5 ||
			o.MaxAge == nil || *o.MaxAge != 7 || o.Compress == nil || !*o.Compress {
			t.Errorf("log settings: logFile %q, logLevel %q, logToStderr %v, logOptions %+v; want /var/log/meta-cni.log, info, unset, 50 MB x 5 for 7 days, compressed",
				nc.LogFile, nc.LogLevel, nc.LogToStderr, o)
		}
	})

	t.Run("DaemonInstallsTheRenderedConf", func(t *testing.T) {
		data, _, _ := unstructured.NestedString(byKind["ConfigMap"].Object, "data", "meta-cni.conflist")
		dir, out, err := daemonOnce(t, data, nil)
		if err != nil {
			t.Fatalf("meta-cni-daemon --once with the chart's conf: %v\n%s", err, out)
		}
		installed, err := os.ReadFile(filepath.Join(dir, "net.d", "00-meta-cni.conflist"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(installed), `"clusterNetwork": "cbr0"`) && !strings.Contains(string(installed), `"clusterNetwork":"cbr0"`) {
			t.Errorf("installed conflist lost the chart's clusterNetwork:\n%s", installed)
		}
		if _, err := os.Stat(filepath.Join(dir, "bin", "meta-cni")); err != nil {
			t.Errorf("plugin binary not installed: %v", err)
		}
	})

	// helm install with no --set at all: it installs, and its daemon names
	// the node's cluster network conf, or gives up waiting for one.
	t.Run("NoValuesInstallsAndItsDaemonPicksTheClusterNetwork", func(t *testing.T) {
		if err := k.EnsureNamespace("zero"); err != nil {
			t.Fatal(err)
		}
		objs, err := k.Apply(helm(t, "template", "zero", chartDir(), "--namespace", "zero", "--kube-version", "1.34.0"))
		if err != nil {
			t.Fatalf("install the chart rendered with no values: %v", err)
		}
		var data string
		for _, o := range objs {
			if o.GetKind() == "ConfigMap" && o.GetName() == "zero-meta-cni" {
				data, _, _ = unstructured.NestedString(o.Object, "data", "meta-cni.conflist")
			}
		}
		dir, out, err := daemonOnce(t, data, map[string]string{"10-flannel.conflist": `{"cniVersion":"1.0.0","name":"cbr0","plugins":[{"type":"flannel"},{"type":"portmap","capabilities":{"portMappings":true}}]}`})
		if err != nil {
			t.Fatalf("meta-cni-daemon --once with the no-values conf: %v\n%s", err, out)
		}
		var list struct {
			Plugins []config.NetConf `json:"plugins"`
		}
		installed, _ := os.ReadFile(filepath.Join(dir, "net.d", "00-meta-cni.conflist"))
		if err := json.Unmarshal(installed, &list); err != nil || len(list.Plugins) != 1 {
			t.Fatalf("installed conflist %s: %v", installed, err)
		}
		if got := list.Plugins[0].ClusterNetwork; got != "/etc/cni/net.d/10-flannel.conflist" {
			t.Errorf("installed clusterNetwork %q, want the conf dir's first other conf by its host path", got)
		}

		_, out, err = daemonOnce(t, data, nil, "--cluster-network-timeout=1s")
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "no cluster network conf") {
			t.Errorf("with an empty conf dir: %v, want exit status 1 saying there is no cluster network conf\n%s", err, out)
		}
	})

	t.Run("ClusterRoleIsExactlyTheTestedRules", func(t *testing.T) {
		var role rbacv1.ClusterRole
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(byKind["ClusterRole"].Object, &role); err != nil {
			t.Fatal(err)
		}
		want, err := testenv.ChartRBACRules()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(role.Rules, want) {
			t.Fatalf("ClusterRole rules %+v, want %+v", role.Rules, want)
		}
	})

	t.Run("ServiceAccountMayDoWhatMetaCNIDoes", func(t *testing.T) {
		user := "system:serviceaccount:kube-system:" + byKind["ServiceAccount"].GetName()
		checks := []authzv1.ResourceAttributes{
			{Verb: "get", Resource: "pods", Namespace: "app"},
			{Verb: "patch", Resource: "pods", Subresource: "status", Namespace: "app"},
			{Verb: "get", Group: "k8s.cni.cncf.io", Resource: "network-attachment-definitions", Namespace: "app"},
			{Verb: "list", Group: "k8s.cni.cncf.io", Resource: "network-attachment-definitions"}, // the pool counter
			{Verb: "create", Resource: "events", Namespace: "app"},
		}
		for _, attrs := range checks {
			attrs := attrs
			review := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{User: user, ResourceAttributes: &attrs,
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system"}}}
			got, err := k.Clientset().AuthorizationV1().SubjectAccessReviews().Create(context.Background(), review, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !got.Status.Allowed {
				t.Errorf("%s may not %s %s/%s: %s", user, attrs.Verb, attrs.Resource, attrs.Subresource, got.Status.Reason)
			}
		}
		// Verbs nothing in meta-cni uses are not granted: each would widen
		// what a leaked node token can do across the cluster.
		for _, denied := range []authzv1.ResourceAttributes{
			{Verb: "delete", Resource: "pods", Namespace: "app"},
			{Verb: "update", Resource: "pods", Subresource: "status", Namespace: "app"},
			{Verb: "get", Resource: "pods", Subresource: "status", Namespace: "app"},
			{Verb: "watch", Group: "k8s.cni.cncf.io", Resource: "network-attachment-definitions"},
			{Verb: "patch", Resource: "events", Namespace: "app"},
			{Verb: "update", Resource: "events", Namespace: "app"},
			{Verb: "create", Group: "events.k8s.io", Resource: "events", Namespace: "app"},
		} {
			review := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{User: user, ResourceAttributes: &denied,
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system"}}}
			got, err := k.Clientset().AuthorizationV1().SubjectAccessReviews().Create(context.Background(), review, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Status.Allowed {
				t.Errorf("the chart's ServiceAccount may %s %s.%s/%s; nothing in meta-cni does", denied.Verb, denied.Resource, denied.Group, denied.Subresource)
			}
		}
	})

	t.Run("ServiceAccountMayElectTheIPAMReconcilerOnlyInItsNamespace", func(t *testing.T) {
		user := "system:serviceaccount:kube-system:" + byKind["ServiceAccount"].GetName()
		for _, tc := range []struct {
			attrs authzv1.ResourceAttributes
			allow bool
		}{
			{authzv1.ResourceAttributes{Verb: "get", Group: "coordination.k8s.io", Resource: "leases", Namespace: "kube-system", Name: "meta-cni-ipam-reconciler"}, true},
			{authzv1.ResourceAttributes{Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Namespace: "kube-system"}, true},
			{authzv1.ResourceAttributes{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: "kube-system", Name: "meta-cni-ipam-reconciler"}, true},
			{authzv1.ResourceAttributes{Verb: "delete", Group: "coordination.k8s.io", Resource: "leases", Namespace: "kube-system", Name: "meta-cni-ipam-reconciler"}, false},
			{authzv1.ResourceAttributes{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: "app", Name: "meta-cni-ipam-reconciler"}, false},
			{authzv1.ResourceAttributes{Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Namespace: "app"}, false},
		} {
			attrs := tc.attrs
			review := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{User: user, ResourceAttributes: &attrs,
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system"}}}
			got, err := k.Clientset().AuthorizationV1().SubjectAccessReviews().Create(context.Background(), review, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Status.Allowed != tc.allow {
				t.Errorf("%s may %s leases in %s: %v, want %v (%s)", user, attrs.Verb, attrs.Namespace, got.Status.Allowed, tc.allow, got.Status.Reason)
			}
		}
	})

	t.Run("DaemonSetGivesTheReconcilerItsNodeNamespaceAndFlags", func(t *testing.T) {
		var ds appsv1.DaemonSet
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(byKind["DaemonSet"].Object, &ds); err != nil {
			t.Fatal(err)
		}
		c := ds.Spec.Template.Spec.Containers[0]
		env := map[string]string{}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
				env[e.Name] = e.ValueFrom.FieldRef.FieldPath
			}
		}
		// The conflist names the socket by the daemon's path, so the host
		// directory must be mounted at the same path.
		var runHost string
		for _, v := range ds.Spec.Template.Spec.Volumes {
			if v.Name == "run" && v.HostPath != nil {
				runHost = v.HostPath.Path
			}
		}
		if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.Name == "run" && m.MountPath == runHost && runHost == "/run/meta-cni" && !m.ReadOnly
		}) {
			t.Errorf("DaemonSet mounts %v, volumes %v: want host /run/meta-cni writable at the same path", c.VolumeMounts, ds.Spec.Template.Spec.Volumes)
		}
		if env["NODE_NAME"] != "spec.nodeName" || env["POD_NAMESPACE"] != "metadata.namespace" {
			t.Errorf("DaemonSet env from the downward API = %v, want NODE_NAME=spec.nodeName and POD_NAMESPACE=metadata.namespace", env)
		}
		for _, want := range []string{"--ipam-reconcile-interval=5m", "--ipam-reconcile-grace=10m", "--ipam-etcd-prefix=/meta-cni/ipam",
			"--node-api-socket=/run/meta-cni/node-api.sock", "--log-format=json", "--log-level=info"} {
			if !slices.Contains(c.Args, want) {
				t.Errorf("DaemonSet args %v lack %s", c.Args, want)
			}
		}
	})

	t.Run("DaemonSetPassesOnlyFlagsTheDaemonKnows", func(t *testing.T) {
		var ds appsv1.DaemonSet
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(byKind["DaemonSet"].Object, &ds); err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(testenv.MustCNIPath(t), "meta-cni-daemon")
		help, _ := exec.Command(bin, "-h").CombinedOutput()
		for _, arg := range ds.Spec.Template.Spec.Containers[0].Args {
			name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
			if !strings.Contains(string(help), "-"+name) {
				t.Errorf("DaemonSet passes --%s, which meta-cni-daemon -h does not list:\n%s", name, help)
			}
		}
		if cmd := ds.Spec.Template.Spec.Containers[0].Command; len(cmd) != 1 || cmd[0] != "/usr/bin/meta-cni-daemon" {
			t.Errorf("DaemonSet command %v", cmd)
		}
		// Each volume gets its own directory: a mount nested inside another
		// (a Secret inside the ConfigMap's directory) depends on the runtime.
		mounts := ds.Spec.Template.Spec.Containers[0].VolumeMounts
		for _, a := range mounts {
			for _, b := range mounts {
				if a.Name != b.Name && strings.HasPrefix(b.MountPath, a.MountPath+"/") {
					t.Errorf("volume %s at %s is nested inside %s at %s", b.Name, b.MountPath, a.Name, a.MountPath)
				}
			}
		}
	})
}

// daemonOnce runs the built meta-cni-daemon --once, as the chart's
// DaemonSet does, with conflist as its ConfigMap and confs already in the
// host's conf dir; it returns the fake host's root and the daemon's output.
func daemonOnce(t *testing.T, conflist string, confs map[string]string, extra ...string) (string, []byte, error) {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"src", "bin", "net.d", "cache"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{"meta-cni.conflist": conflist, "token": "a-token", "ca.crt": "a-ca", "src/meta-cni": "#!/bin/true\n"}
	for name, content := range confs {
		files["net.d/"+name] = content
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(testenv.MustCNIPath(t), "meta-cni-daemon")
	out, err := exec.Command(bin, append([]string{"--once", "--source-bin-dir=" + dir + "/src", "--cni-bin-dir=" + dir + "/bin",
		"--cni-conf-dir=" + dir + "/net.d", "--host-cni-conf-dir=/etc/cni/net.d", "--conf-file=" + dir + "/meta-cni.conflist",
		"--token-file=" + dir + "/token", "--ca-file=" + dir + "/ca.crt", "--api-server=https://10.96.0.1:443",
		"--etcd-secret-dir=" + dir + "/no-etcd", "--cache-dir=" + dir + "/cache", "--metrics-address="}, extra...)...).CombinedOutput()
	return dir, out, err
}

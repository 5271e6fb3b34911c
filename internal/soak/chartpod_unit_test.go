package soak

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestResolveArgRewritesPathsUnderTheLongestMount(t *testing.T) {
	mounts := map[string]string{"/host/etc/cni/net.d": "/n1/etc/cni/net.d", "/host": "/n1", "/opt/meta-cni/bin": "/img/bin"}
	for arg, want := range map[string]string{
		"--cni-conf-dir=/host/etc/cni/net.d":      "--cni-conf-dir=/n1/etc/cni/net.d",
		"--cache-dir=/host/var/lib/meta-cni":      "--cache-dir=/n1/var/lib/meta-cni",
		"--source-bin-dir=/opt/meta-cni/bin":      "--source-bin-dir=/img/bin",
		"--source-bin-dir=/opt/meta-cni/binaries": "--source-bin-dir=/opt/meta-cni/binaries",
		"/opt/meta-cni/bin/meta-cni":              "/img/bin/meta-cni",
		"--metrics-address=:9091":                 "--metrics-address=:9091",
	} {
		if got := resolveArg(arg, mounts); got != want {
			t.Errorf("resolveArg(%q) = %q, want %q", arg, got, want)
		}
	}
}

// The chart's DaemonSet, rendered for a node, becomes a process whose
// every path is the node's or the pod volume's, with the env the kubelet
// would give it.
func TestChartProcessPutsEveryPathOnTheNode(t *testing.T) {
	root, vols := t.TempDir(), t.TempDir()
	ch, err := renderChart(root, []string{"http://127.0.0.1:2379"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := ch.process(podInputs{dir: vols, image: map[string]string{"/opt/meta-cni/bin": "/img", "/usr/bin/meta-cni-daemon": "/img/daemon"},
		node: "n1", namespace: chartNamespace, token: []byte("tok"), ca: []byte("ca")})
	if err != nil {
		t.Fatal(err)
	}
	if p.argv[0] != "/img/daemon" {
		t.Errorf("command %q, want the image's daemon", p.argv[0])
	}
	for _, want := range []string{
		"--cni-bin-dir=" + filepath.Join(root, "opt/cni/bin"),
		"--cni-conf-dir=" + filepath.Join(root, "etc/cni/net.d"),
		"--host-cni-conf-dir=" + filepath.Join(root, "etc/cni/net.d"),
		"--node-api-socket=" + filepath.Join(root, "run/meta-cni/node-api.sock"),
		"--source-bin-dir=/img",
		"--token-file=" + filepath.Join(vols, "serviceaccount", "token"),
	} {
		if !slices.Contains(p.argv, want) {
			t.Errorf("argv lacks %q: %v", want, p.argv)
		}
	}
	for _, a := range p.argv {
		if strings.Contains(a, "=/host/") || strings.Contains(a, "=/etc/meta-cni/") {
			t.Errorf("argument %q names a path only the container has", a)
		}
	}
	for _, want := range []string{"NODE_NAME=n1", "POD_NAMESPACE=" + chartNamespace} {
		if !slices.Contains(p.env, want) {
			t.Errorf("env lacks %q: %v", want, p.env)
		}
	}
	conf, err := os.ReadFile(filepath.Join(vols, "config", "meta-cni.conflist"))
	if err != nil || !strings.Contains(string(conf), filepath.Join(root, "var/lib/meta-cni")) {
		t.Errorf("the ConfigMap's conflist is not written out with the node's cacheDir: %v\n%s", err, conf)
	}
	if eps, err := os.ReadFile(filepath.Join(vols, "etcd", "endpoints")); err != nil || string(eps) != "http://127.0.0.1:2379" {
		t.Errorf("the etcd Secret's endpoints: %q, %v", eps, err)
	}
}

package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/meta-cni/meta-cni/internal/image"
	"github.com/meta-cni/meta-cni/internal/testenv"
)

// pathFlag says where a path the chart passes to meta-cni-daemon must
// come from. A new path flag in the chart fails the test until it is
// classified here, so nobody ships a container that points at nothing.
type pathFlag int

const (
	inImage    pathFlag = iota // a file or directory the image holds
	inVolume                   // under one of the container's volumeMounts
	parentVol                  // a file the daemon creates in a mounted dir
	notInside                  // not a path in the container: the host's view, or an etcd key prefix
	optionalIn                 // a volume only some values mount; the daemon skips it when absent
)

var daemonPathFlags = map[string]pathFlag{
	"--source-bin-dir":    inImage,
	"--cni-bin-dir":       inVolume,
	"--cni-conf-dir":      inVolume,
	"--host-cni-conf-dir": notInside,
	"--ipam-etcd-prefix":  notInside,
	"--conf-file":         inVolume,
	"--etcd-secret-dir":   optionalIn,
	"--cache-dir":         inVolume,
	"--node-api-socket":   parentVol,
}

// buildImage runs make image's code into a temp dir and reads the result.
func buildImage(t *testing.T, ref string) image.Contents {
	t.Helper()
	out := filepath.Join(t.TempDir(), "meta-cni.tar")
	var stdout bytes.Buffer
	if err := run([]string{"--out", out, "--ref", ref, "--version", "chart-test"}, &stdout); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "ctr -n k8s.io images import "+out) {
		t.Fatalf("make image printed %q, without how to import it", stdout.String())
	}
	c, err := image.ReadTarball(out)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func renderDaemonSet(t *testing.T, set ...string) appsv1.DaemonSet {
	t.Helper()
	args := append([]string{"template", "meta-cni", filepath.Join(testenv.RepoRoot(), "charts", "meta-cni"),
		"--namespace", "kube-system", "--kube-version", "1.34.0"}, set...)
	out, err := testenv.Helm(args...)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		var ds appsv1.DaemonSet
		err := dec.Decode(&ds)
		if errors.Is(err, io.EOF) {
			t.Fatalf("helm %v rendered no DaemonSet", set)
		}
		if err != nil {
			t.Fatal(err)
		}
		if ds.Kind == "DaemonSet" {
			return ds
		}
	}
}

// Every path the chart's container uses exists: the command and the
// plugins in the image make image builds, the rest under a volume mount.
func TestImageHoldsEverythingTheChartsContainerUses(t *testing.T) {
	const ref = "localhost/meta-cni/meta-cni:chart-test"
	img := buildImage(t, ref)
	for name, set := range map[string][]string{
		"default values": nil,
		"etcd TLS, no node API": {"--set", "etcd.existingSecret=etcd-tls", "--set", "nodeAPI.enabled=false",
			"--set", "cni.binDir=/opt/test/bin", "--set", "cni.confDir=/etc/test/net.d"},
	} {
		t.Run(name, func(t *testing.T) {
			ds := renderDaemonSet(t, append([]string{"--set", "image.repository=localhost/meta-cni/meta-cni", "--set", "image.tag=chart-test"}, set...)...)
			containers := append(ds.Spec.Template.Spec.InitContainers, ds.Spec.Template.Spec.Containers...)
			if len(containers) == 0 {
				t.Fatal("the DaemonSet has no containers")
			}
			for _, c := range containers {
				checkContainer(t, img, ref, c)
			}
		})
	}
}

func checkContainer(t *testing.T, img image.Contents, ref string, c corev1.Container) {
	t.Helper()
	if c.Image != ref {
		t.Fatalf("container %s runs %s, want %s", c.Name, c.Image, ref)
	}
	cmd := c.Command
	if len(cmd) == 0 {
		cmd = img.Config.Entrypoint
	}
	if len(cmd) == 0 {
		t.Fatalf("container %s: no command and no entrypoint", c.Name)
	}
	if e, ok := img.Entries[cmd[0]]; !ok || e.Dir || e.Mode&0o111 == 0 {
		t.Errorf("container %s: command %s is not an executable in the image (%+v)", c.Name, cmd[0], e)
	}
	mounted := func(p string) bool {
		for _, m := range c.VolumeMounts {
			if p == m.MountPath || strings.HasPrefix(p, strings.TrimSuffix(m.MountPath, "/")+"/") {
				return true
			}
		}
		return false
	}
	absPath := regexp.MustCompile(`^(--[a-z0-9-]+)=(/.*)$`)
	for _, arg := range append(cmd[1:], c.Args...) {
		m := absPath.FindStringSubmatch(arg)
		if m == nil {
			continue
		}
		flag, p := m[1], path.Clean(m[2])
		kind, known := daemonPathFlags[flag]
		switch {
		case !known:
			t.Errorf("container %s: %s is a path the test does not know; classify it in daemonPathFlags", c.Name, arg)
		case kind == inImage:
			if e, ok := img.Entries[p]; !ok || !e.Dir {
				t.Errorf("container %s: %s: no directory %s in the image", c.Name, arg, p)
			}
			if mounted(p) {
				t.Errorf("container %s: %s: a volume hides the image's %s", c.Name, arg, p)
			}
		case kind == inVolume && !mounted(p), kind == parentVol && !mounted(path.Dir(p)):
			t.Errorf("container %s: %s is under no volumeMount", c.Name, arg)
		case kind == optionalIn && !mounted(p):
			if _, ok := img.Entries[p]; ok {
				t.Errorf("container %s: %s: the image must not ship %s", c.Name, arg, p)
			}
		}
	}
	// The daemon installs what --source-bin-dir holds: every plugin.
	for _, arg := range c.Args {
		if dir, ok := strings.CutPrefix(arg, "--source-bin-dir="); ok {
			for _, p := range image.NodePlugins {
				if e, ok := img.Entries[path.Join(dir, p)]; !ok || e.Mode&0o111 == 0 {
					t.Errorf("container %s: plugin %s is not an executable in %s", c.Name, p, dir)
				}
			}
		}
	}
}

// With no --ref, make image tags what the chart's default values pull, and
// the Makefile's IMAGE default is the same.
func TestDefaultRefIsTheChartsDefaultImage(t *testing.T) {
	ds := renderDaemonSet(t)
	chartImage := ds.Spec.Template.Spec.Containers[0].Image
	if defaultRef != chartImage {
		t.Errorf("hack/image --ref defaults to %s, the chart pulls %s", defaultRef, chartImage)
	}
	mk, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^IMAGE \?= (\S+)$`).FindSubmatch(mk)
	if m == nil || string(m[1]) != chartImage {
		t.Errorf("the Makefile's IMAGE is %q, the chart pulls %s", m, chartImage)
	}
}

package image

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func fakeBinDir(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("binary "+n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The node image has the Dockerfile's layout: the daemon as entrypoint at
// /usr/bin, the plugins it installs under /opt/meta-cni/bin.
func TestNodeSpecHasTheDockerfileLayout(t *testing.T) {
	dir := fakeBinDir(t, "meta-cni-daemon", "meta-cni", "etcd-ipam", "host-route", "stray")
	spec, err := NodeSpec(dir, "localhost/meta-cni/meta-cni:t1", "t1")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "node.tar")
	if err := WriteTarball(spec, out); err != nil {
		t.Fatal(err)
	}
	c, err := ReadTarball(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Tags, []string{"localhost/meta-cni/meta-cni:t1"}) {
		t.Fatalf("tags %v", c.Tags)
	}
	if !reflect.DeepEqual(c.Config.Entrypoint, []string{"/usr/bin/meta-cni-daemon"}) {
		t.Fatalf("entrypoint %v", c.Config.Entrypoint)
	}
	if c.Config.Labels["org.opencontainers.image.version"] != "t1" {
		t.Fatalf("labels %v", c.Config.Labels)
	}
	var files []string
	for p, e := range c.Entries {
		if !e.Dir {
			files = append(files, p)
			if e.Mode != 0o755 {
				t.Errorf("%s mode %o, want 755", p, e.Mode)
			}
		}
	}
	want := []string{"/opt/meta-cni/bin/etcd-ipam", "/opt/meta-cni/bin/host-route", "/opt/meta-cni/bin/meta-cni", "/usr/bin/meta-cni-daemon"}
	if !sameSet(files, want) {
		t.Fatalf("files %v, want %v (nothing else from the bin dir)", files, want)
	}
	if e := c.Entries["/tmp"]; !e.Dir || e.Mode != 0o1777 {
		t.Fatalf("/tmp = %+v, want a sticky world-writable dir", e)
	}
	data, err := ReadFile(out, "/opt/meta-cni/bin/host-route")
	if err != nil || string(data) != "binary host-route" {
		t.Fatalf("host-route holds %q, %v", data, err)
	}
}

func TestNodeSpecNamesAMissingBinary(t *testing.T) {
	dir := fakeBinDir(t, "meta-cni-daemon", "meta-cni", "host-route")
	_, err := NodeSpec(dir, "localhost/meta-cni/meta-cni:t1", "t1")
	if err == nil || !strings.Contains(err.Error(), "etcd-ipam missing from "+dir) {
		t.Fatalf("err = %v, want one naming etcd-ipam and %s", err, dir)
	}
}

func TestTagOf(t *testing.T) {
	for ref, want := range map[string]string{
		"ghcr.io/meta-cni/meta-cni:0.1.0":    "0.1.0",
		"localhost/meta-cni/meta-cni:v2":     "v2",
		"localhost:5000/meta-cni/x:upgraded": "upgraded",
	} {
		if got, err := tagOf(ref); err != nil || got != want {
			t.Errorf("tagOf(%q) = %q, %v; want %q", ref, got, err, want)
		}
	}
	for _, ref := range []string{"localhost/meta-cni/meta-cni", "Bad Ref:1", ""} {
		if _, err := tagOf(ref); err == nil {
			t.Errorf("tagOf(%q) succeeded", ref)
		}
	}
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

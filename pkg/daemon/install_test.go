package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestInstallCopiesBinariesWithMode0755AndNoTempFiles(t *testing.T) {
	f := newFixture(t)
	writeFile(t, filepath.Join(f.cfg.SourceBinDir, "macvlan"), "ref", 0o644)
	if err := f.d.Install(); err != nil {
		t.Fatalf("Install: %v", err)
	}
	entries, err := os.ReadDir(f.cfg.CNIBinDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"etcd-ipam", "host-route", "macvlan", "meta-cni"}; !slices.Equal(names, want) {
		t.Fatalf("bin dir holds %v, want exactly %v (no temp files)", names, want)
	}
	for _, name := range names {
		path := filepath.Join(f.cfg.CNIBinDir, name)
		assertMode(t, path, 0o755)
		if got, want := readFile(t, path), readFile(t, filepath.Join(f.cfg.SourceBinDir, name)); got != want {
			t.Errorf("%s: content %q, want %q", name, got, want)
		}
	}
}

func TestInstallReplacesOnlyChangedBinaries(t *testing.T) {
	tests := []struct {
		name        string
		existing    string
		mode        os.FileMode
		wantWrite   bool
		wantNewNode bool
	}{
		{name: "identical binary is left in place", existing: "plugin", mode: 0o755},
		{name: "identical binary with wrong mode is only chmodded", existing: "plugin", mode: 0o644},
		{name: "changed binary is replaced by rename", existing: "old plugin", mode: 0o755, wantWrite: true, wantNewNode: true},
		{name: "binary of another size is replaced by rename", existing: "p", mode: 0o755, wantWrite: true, wantNewNode: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			dst := filepath.Join(f.cfg.CNIBinDir, "meta-cni")
			writeFile(t, dst, tc.existing, tc.mode)
			before := inode(t, dst)
			if err := f.d.Install(); err != nil {
				t.Fatalf("Install: %v", err)
			}
			wrote := slices.Contains(f.takeWrites(), dst)
			if wrote != tc.wantWrite {
				t.Errorf("binary written = %v, want %v", wrote, tc.wantWrite)
			}
			if changed := inode(t, dst) != before; changed != tc.wantNewNode {
				t.Errorf("inode changed = %v, want %v (a replacement must be a rename, never a write in place)", changed, tc.wantNewNode)
			}
			if got := readFile(t, dst); got != "plugin" {
				t.Errorf("content %q, want %q", got, "plugin")
			}
			assertMode(t, dst, 0o755)
		})
	}
}

func TestInstallTwiceWritesNothingTheSecondTime(t *testing.T) {
	f := newFixture(t)
	if err := f.d.Install(); err != nil {
		t.Fatal(err)
	}
	f.takeWrites()
	if err := f.d.Install(); err != nil {
		t.Fatal(err)
	}
	if w := f.takeWrites(); len(w) != 0 {
		t.Errorf("second install wrote %v, want nothing", w)
	}
}

func TestInstallSkipsDaemonBinaryAndStaleTempFiles(t *testing.T) {
	f := newFixture(t)
	writeFile(t, filepath.Join(f.cfg.SourceBinDir, "meta-cni-daemon"), "daemon", 0o755)
	stale := filepath.Join(f.cfg.CNIBinDir, tempPrefix+"meta-cni-123")
	writeFile(t, stale, "half", 0o600)
	if err := f.d.Install(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.cfg.CNIBinDir, "meta-cni-daemon")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("meta-cni-daemon was copied to the CNI bin dir (stat: %v)", err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temp file from a killed install is still there (stat: %v)", err)
	}
}

func TestInstallWritesConflistLastWithHostKubeconfigPath(t *testing.T) {
	f := newFixture(t)
	writeFile(t, filepath.Join(f.cfg.EtcdSecretDir, "ca.crt"), "etcd-ca", 0o644)
	if err := f.d.Install(); err != nil {
		t.Fatal(err)
	}
	writes := f.takeWrites()
	if len(writes) < 2 || writes[len(writes)-1] != f.conflistPath() {
		t.Fatalf("writes in order %v: the conflist must be last", writes)
	}
	for _, want := range []string{
		filepath.Join(f.cfg.CNIBinDir, "meta-cni"),
		f.credPath("token"), f.credPath("ca.crt"), f.credPath("meta-cni.kubeconfig"),
		f.credPath("etcd/ca.crt"),
	} {
		if !slices.Contains(writes[:len(writes)-1], want) {
			t.Errorf("%s was not written before the conflist (writes %v)", want, writes)
		}
	}
	p := installedPlugin(t, f)
	if got, want := p["kubeconfig"], "/etc/cni/net.d/meta-cni.d/meta-cni.kubeconfig"; got != want {
		t.Errorf("kubeconfig = %v, want host path %s", got, want)
	}
	if p["clusterNetwork"] != "cbr0" {
		t.Errorf("clusterNetwork = %v, want the chart's cbr0 kept", p["clusterNetwork"])
	}
	assertMode(t, f.conflistPath(), 0o644)
}

func TestInstallRejectsInvalidConflistAndInstallsNothing(t *testing.T) {
	tests := []struct {
		name      string
		conflist  string
		wantField string
	}{
		{"not JSON", `{"plugins": [`, ""},
		{"missing cniVersion", `{"name":"m","plugins":[{"type":"meta-cni"}]}`, "cniVersion"},
		{"missing name", `{"cniVersion":"1.1.0","plugins":[{"type":"meta-cni"}]}`, "name"},
		{"a single conf, not a list", `{"cniVersion":"1.1.0","name":"m","type":"meta-cni"}`, "plugins"},
		{"empty plugin list", `{"cniVersion":"1.1.0","name":"m","plugins":[]}`, "plugins"},
		{"plugin without type", `{"cniVersion":"1.1.0","name":"m","plugins":[{"type":"meta-cni","clusterNetwork":"c"},{"mtu":1}]}`, "plugins[1].type"},
		{"no meta-cni plugin", `{"cniVersion":"1.1.0","name":"m","plugins":[{"type":"macvlan"}]}`, "plugins[].type"},
		{"unsupported cniVersion", `{"cniVersion":"9.9.9","name":"m","plugins":[{"type":"meta-cni","clusterNetwork":"c"}]}`, "plugins[0].cniVersion"},
		{"clusterNetwork of the wrong type", `{"cniVersion":"1.1.0","name":"m","plugins":[{"type":"meta-cni","clusterNetwork":5}]}`, "plugins[0].clusterNetwork"},
		{"auto, with another field wrong", `{"cniVersion":"1.1.0","name":"m","plugins":[{"type":"meta-cni","logLevel":"trace"}]}`, "plugins[0].logLevel"},
		{"meta-cni field of the wrong type", `{"cniVersion":"1.1.0","name":"m","plugins":[{"type":"macvlan"},{"type":"meta-cni","clusterNetwork":"c","defaultNetworks":"x"}]}`, "plugins[1].defaultNetworks"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			writeFile(t, f.cfg.ConfFile, tc.conflist, 0o644)
			err := f.d.Install()
			if err == nil {
				t.Fatal("Install succeeded, want an error")
			}
			t.Logf("error: %v", err)
			var ce *ConflistError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *ConflistError", err)
			}
			if ce.File != f.cfg.ConfFile || ce.Field != tc.wantField {
				t.Errorf("error names file %q field %q, want %q field %q", ce.File, ce.Field, f.cfg.ConfFile, tc.wantField)
			}
			if !strings.Contains(err.Error(), f.cfg.ConfFile) || !strings.Contains(err.Error(), tc.wantField) {
				t.Errorf("message %q does not name the file and field", err)
			}
			for _, dir := range []string{f.cfg.CNIBinDir, f.cfg.CNIConfDir} {
				if entries, _ := os.ReadDir(dir); len(entries) != 0 {
					t.Errorf("%s holds %d entries after a rejected conflist, want none", dir, len(entries))
				}
			}
			if w := f.takeWrites(); len(w) != 0 {
				t.Errorf("wrote %v, want nothing", w)
			}
		})
	}
}

func TestInstallFailsBeforeWritingWhenCredentialsAreMissing(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"token missing", func(c *Config) { c.TokenFile += ".missing" }, "read ServiceAccount token"},
		{"CA missing", func(c *Config) { c.CAFile += ".missing" }, "read API server CA"},
		{"no API server", func(c *Config) { c.APIServer = "" }, "--api-server"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KUBERNETES_SERVICE_HOST", "")
			f := newFixture(t, tc.mutate)
			err := f.d.Install()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Install error %v, want one containing %q", err, tc.wantErr)
			}
			if w := f.takeWrites(); len(w) != 0 {
				t.Errorf("wrote %v, want nothing", w)
			}
			if f.d.Ready() {
				t.Error("daemon reports ready after a failed install")
			}
		})
	}
}

func TestInstallCopiesEtcdSecretOnlyWhenMounted(t *testing.T) {
	files := map[string]string{"ca.crt": "etcd-ca", "tls.crt": "etcd-cert", "tls.key": "etcd-key", "endpoints": "https://10.0.0.1:2379"}
	tests := []struct {
		name    string
		mounted bool
	}{
		{"mounted secret is copied with mode 0600", true},
		{"absent secret dir is skipped", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.mounted {
				mountSecret(t, f.cfg.EtcdSecretDir, files)
			}
			if err := f.d.Install(); err != nil {
				t.Fatalf("Install: %v", err)
			}
			dst := f.credPath("etcd")
			entries, err := os.ReadDir(dst)
			if !tc.mounted {
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("etcd dir %s exists without a mounted secret (%d entries, err %v)", dst, len(entries), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != len(files) {
				t.Errorf("etcd dir holds %d files, want %d (volume internals like ..data must not be copied)", len(entries), len(files))
			}
			for name, content := range files {
				path := filepath.Join(dst, name)
				if got := readFile(t, path); got != content {
					t.Errorf("%s = %q, want %q", name, got, content)
				}
				assertMode(t, path, 0o600)
			}
		})
	}
}

// mountSecret lays files out the way the kubelet mounts a Secret: each key a
// symlink into a hidden timestamped dir through "..data".
func mountSecret(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	data := filepath.Join(dir, "..2026_01_01_00_00_00.1")
	for name, content := range files {
		writeFile(t, filepath.Join(data, name), content, 0o644)
	}
	if err := os.Symlink(filepath.Base(data), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestUninstallRemovesOnlyTheConflist(t *testing.T) {
	f := newFixture(t)
	if err := f.d.Install(); err != nil {
		t.Fatal(err)
	}
	if err := f.d.Uninstall(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.conflistPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("conflist still there (stat: %v)", err)
	}
	for _, path := range []string{filepath.Join(f.cfg.CNIBinDir, "meta-cni"), f.credPath("meta-cni.kubeconfig")} {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s removed: pods being deleted still need it (%v)", path, err)
		}
	}
	if err := f.d.Uninstall(); err != nil {
		t.Errorf("second Uninstall: %v, want nil", err)
	}
}

package metacni

import (
	"github.com/containernetworking/cni/libcni"

	"os"
	"path/filepath"
	"testing"
)

func TestDirSourceFailsNamingTheDirectoryOrItsBrokenFirstConf(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   map[string]string
		network string // relative to the directory; "" is the directory itself
		reason  string
	}{
		{"empty directory", nil, "", "holds no network config"},
		{"only meta-cni's own conf", map[string]string{"00-meta.conflist": `{"name":"m","plugins":[{"type":"meta-cni"}]}`}, "", "other than meta-cni's own"},
		{"broken first conf", map[string]string{"05-broken.conf": `{"name":`, "10-good.conf": `{"name":"good","type":"bridge"}`},
			"05-broken.conf", "cannot read the first network config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := dirSource(dir)
			network := "file:" + dir
			if tc.network != "" {
				network = "file:" + filepath.Join(dir, tc.network)
			}
			checkNetworkError(t, err, network, "", tc.reason)
		})
	}
}

// A conf is meta-cni's own when an ADD would run meta-cni from it, read as
// libcni reads it: delegating to it would call meta-cni from meta-cni.
// A "Plugins" key that libcni ignores neither hides meta-cni nor adds it.
func TestConfDirSkipsEveryConfThatWouldRunMetaCNI(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
		own        bool
	}{
		{"meta-cni first", `{"name":"n","plugins":[{"type":"meta-cni"}]}`, true},
		{"meta-cni second", `{"name":"n","plugins":[{"type":"bridge"},{"type":"meta-cni"}]}`, true},
		{"a single meta-cni conf", `{"name":"n","type":"meta-cni"}`, true},
		{"Plugins does not hide plugins", `{"name":"n","plugins":[{"type":"meta-cni"}],"Plugins":[{"type":"bridge"}]}`, true},
		{"the last of two plugins keys", `{"name":"n","plugins":[{"type":"bridge"}],"plugins":[{"type":"meta-cni"}]}`, true},
		{"a single conf beside a Plugins key", `{"name":"n","type":"bridge","Plugins":[{"type":"meta-cni"}]}`, false},
		{"Type beside type", `{"name":"n","plugins":[{"Type":"meta-cni","type":"bridge"}]}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "10-n.conflist"), []byte(tc.conf), 0o600); err != nil {
				t.Fatal(err)
			}
			// libcni, given the same bytes, agrees on whether meta-cni runs.
			if list, err := libcni.ConfListFromBytes([]byte(tc.conf)); err == nil && len(list.Plugins) > 0 {
				runs := false
				for _, p := range list.Plugins {
					runs = runs || p.Network.Type == "meta-cni"
				}
				if runs != tc.own {
					t.Fatalf("libcni runs meta-cni: %v, test expects own %v", runs, tc.own)
				}
			}
			_, found := (&confDir{dir: dir}).lookup("n")
			_, dirErr := dirSource(dir)
			if tc.own && (found || dirErr == nil) {
				t.Errorf("a conf that runs meta-cni is delegated to: lookup found %v, dirSource err %v", found, dirErr)
			}
			if !tc.own && (!found || dirErr != nil) {
				t.Errorf("a conf that does not run meta-cni is skipped: lookup found %v, dirSource err %v", found, dirErr)
			}
		})
	}
}

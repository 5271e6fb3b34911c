package metacni

import (
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

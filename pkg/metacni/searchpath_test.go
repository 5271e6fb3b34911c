package metacni

import (
	"reflect"
	"testing"
)

func TestSearchPathIsBinDirThenCNIPath(t *testing.T) {
	for _, c := range []struct {
		name, binDir, cniPath string
		want                  []string
	}{
		{"binDir before CNI_PATH", "/opt/cni/bin", "/var/lib/rancher/k3s/data/current/bin:/usr/libexec/cni",
			[]string{"/opt/cni/bin", "/var/lib/rancher/k3s/data/current/bin", "/usr/libexec/cni"}},
		{"no binDir", "", "/opt/cni/bin:/usr/libexec/cni", []string{"/opt/cni/bin", "/usr/libexec/cni"}},
		{"no CNI_PATH", "/opt/cni/bin", "", []string{"/opt/cni/bin"}},
		{"binDir also on CNI_PATH", "/opt/cni/bin", "/usr/libexec/cni:/opt/cni/bin", []string{"/opt/cni/bin", "/usr/libexec/cni"}},
		{"empty CNI_PATH entries", "", "::/opt/cni/bin:", []string{"/opt/cni/bin"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := searchPath(c.binDir, c.cniPath); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("searchPath(%q, %q) = %q, want %q", c.binDir, c.cniPath, got, c.want)
			}
		})
	}
}

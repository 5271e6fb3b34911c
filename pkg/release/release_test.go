package release

import (
	"strings"
	"testing"
)

// A build without the -X flag still reports something: the module's
// version from the build info ("(devel)" from a work tree). The flag's
// own effect is proved on built binaries by internal/image's
// TestNodeVersionIsTheRefsTag.
func TestVersionFallsBackToTheModuleVersion(t *testing.T) {
	if Version == "" || Version != moduleVersion() {
		t.Fatalf("Version %q, want the build info's %q", Version, moduleVersion())
	}
}

func TestAboutNamesThePluginAndItsVersion(t *testing.T) {
	got := About("etcd-ipam", "cluster-wide IPAM in etcd")
	if want := "etcd-ipam " + Version + ": cluster-wide IPAM in etcd"; got != want {
		t.Fatalf("About = %q, want %q", got, want)
	}
	if strings.Contains(got, "\n") {
		t.Fatalf("About %q spans lines", got)
	}
}

package image

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/meta-cni/meta-cni/internal/gobuild"
)

// Progress receives a line for each step of an image build (what is
// compiled, what is packed, a tarball reused), in the shape testenv's tool
// builds print, so a first `make image` is not silent for a minute.
var Progress io.Writer = os.Stderr

func progressf(format string, args ...any) {
	if Progress != nil {
		fmt.Fprintf(Progress, "    "+format+"\n", args...)
	}
}

// VersionVar is the variable the version ldflag sets, as the Makefile's
// LDFLAGS set it.
const VersionVar = "github.com/meta-cni/meta-cni/pkg/release.Version"

var (
	rootOnce sync.Once
	root     string
)

// moduleRoot is the directory holding meta-cni's go.mod, found from this
// source file: the packages are built from the source tree, whatever the
// caller's working directory. (internal/testenv finds it the same way; it
// cannot be imported here, since testenv builds images with this package.)
func moduleRoot() string {
	rootOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	})
	return root
}

// GoBuild compiles pkgs (e.g. "./cmd/...") of the meta-cni module into
// outDir as static binaries, with -trimpath and, when version is set, the
// version ldflag. While it runs it reports how many packages are compiled.
func GoBuild(outDir, version string, pkgs ...string) error {
	flags := []string{"-trimpath"}
	if version != "" {
		flags = append(flags, "-ldflags", "-X "+VersionVar+"="+version)
	}
	name := strings.Join(pkgs, " ")
	if version != "" {
		name += fmt.Sprintf(" (version %s)", version)
	}
	return gobuild.Build{
		Name: name,
		Dir:  moduleRoot(), Pkgs: pkgs, Out: outDir + string(filepath.Separator),
		Flags: flags, Env: []string{"GOOS=linux", "GOARCH=amd64"},
		Progressf: progressf, Every: 10 * time.Second,
	}.Run()
}

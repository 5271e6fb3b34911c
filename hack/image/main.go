// Command image is `make image`: it builds the node image the Helm chart
// runs, with no Docker engine. It compiles ./cmd/... (static, -trimpath,
// the Makefile's version ldflag) into a temp dir, or packs an existing
// --bin-dir, and writes the image tagged --ref as a docker-archive tarball
// that `ctr -n k8s.io images import`, `docker load` and `podman load` read.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/meta-cni/meta-cni/internal/image"
)

// defaultRef is what the chart's default values pull: its repository and
// appVersion.
const defaultRef = "ghcr.io/meta-cni/meta-cni:0.1.0"

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	out := fs.String("out", ".cache/images/meta-cni.tar", "the tarball to write")
	ref := fs.String("ref", defaultRef, "the image's tag (the Makefile's IMAGE)")
	version := fs.String("version", "dev", "meta-cni-daemon's reported version (the Makefile's VERSION)")
	binDir := fs.String("bin-dir", "", "pack the binaries already in this dir (e.g. bin/) instead of compiling them")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir := *binDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "meta-cni-image-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		if err := image.GoBuild(tmp, *version, "./cmd/..."); err != nil {
			return err
		}
		dir = tmp
	}
	spec, err := image.NodeSpec(dir, *ref, *version)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := image.WriteTarball(spec, *out); err != nil {
		return err
	}
	fi, err := os.Stat(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%s, %.1f MB)\nimport it on a node with: ctr -n k8s.io images import %s\n",
		*out, *ref, float64(fi.Size())/1e6, *out)
	return nil
}

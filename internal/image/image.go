// Package image builds OCI images from files on disk, with no Docker
// engine: the node image `make image` ships, and the pause and workload
// images the real-node tests import into containerd.
package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// File is one regular file of the image: Src on disk is copied to Path
// (absolute, inside the image) with Mode.
type File struct {
	Src  string
	Path string
	Mode int64
}

// Spec says what an image holds and how it starts. Every image is built
// from scratch: the programs in it are static Go binaries.
type Spec struct {
	Ref string // e.g. "ghcr.io/meta-cni/meta-cni:0.1.0"
	// Aliases are more refs of the same image in the tarball, so one
	// import answers to each (a node's own pause and the upstream one).
	Aliases    []string
	Files      []File
	Dirs       []string // extra empty directories, e.g. "/tmp"
	Entrypoint []string
	Env        []string
	Labels     map[string]string
}

// epoch is every file's and the config's timestamp, so the same inputs
// give the same image digest.
var epoch = time.Unix(0, 0).UTC()

// Build makes the image: one layer with the files and directories (parents
// created, 0755), and a config with the entrypoint.
func Build(spec Spec) (v1.Image, error) {
	layerTar, err := layerBytes(spec)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("image %s: layer: %w", spec.Ref, err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: "meta-cni internal/image", Created: v1.Time{Time: epoch}}})
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS = "amd64", "linux"
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config.Entrypoint = spec.Entrypoint
	cfg.Config.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, spec.Env...)
	cfg.Config.Labels = spec.Labels
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", spec.Ref, err)
	}
	return img, nil
}

// WriteTarball builds the image and writes it as a docker-archive tarball
// (manifest.json, config, layer) tagged spec.Ref, the format
// `ctr images import` reads.
func WriteTarball(spec Spec, out string) error {
	if _, err := name.NewTag(spec.Ref); err != nil {
		return fmt.Errorf("image reference %q: %w", spec.Ref, err)
	}
	img, err := Build(spec)
	if err != nil {
		return err
	}
	return writeImage(img, spec.Ref, out, spec.Aliases...)
}

// writeImage writes img tagged ref to out through a temp file of its own
// and a rename, so two processes writing the same image never interleave
// and a reader never sees half a tarball.
func writeImage(img v1.Image, ref, out string, aliases ...string) error {
	refs := map[name.Reference]v1.Image{}
	for _, r := range append([]string{ref}, aliases...) {
		tag, err := name.NewTag(r)
		if err != nil {
			return fmt.Errorf("image reference %q: %w", r, err)
		}
		refs[tag] = img
	}
	f, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write image %s to %s: %w", ref, out, err)
	}
	tmp := f.Name()
	f.Close()
	_ = os.Chmod(tmp, 0o644) // CreateTemp's 0600 would hide it from a non-root ctr or skopeo
	if err := tarball.MultiRefWriteToFile(tmp, refs); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write image %s to %s: %w", ref, out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write image %s to %s: %w", ref, out, err)
	}
	return nil
}

func layerBytes(spec Spec) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	addDir := func(p string) {
		for d := p; d != "/" && d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for _, d := range spec.Dirs {
		addDir(path.Clean(d))
	}
	for _, f := range spec.Files {
		if !path.IsAbs(f.Path) {
			return nil, fmt.Errorf("image %s: file path %q is not absolute", spec.Ref, f.Path)
		}
		addDir(path.Dir(path.Clean(f.Path)))
	}
	var names []string
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names) // a parent sorts before its children
	for _, d := range names {
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: epoch}
		if d == "/tmp" {
			hdr.Mode = 0o1777
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
	}
	for _, f := range spec.Files {
		data, err := os.ReadFile(f.Src)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", spec.Ref, err)
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(path.Clean(f.Path), "/"), Mode: f.Mode, Size: int64(len(data)), ModTime: epoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

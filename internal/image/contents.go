package image

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Entry is one path of an image's filesystem.
type Entry struct {
	Dir  bool
	Mode int64
	Size int64
}

// Contents is what a docker-archive tarball holds, read back the way a
// runtime would see it: its tags, its config and its flattened filesystem
// by absolute path.
type Contents struct {
	Tags    []string
	Config  v1.Config
	Entries map[string]Entry
}

// ReadTarball reads an image tarball written by WriteTarball (or any
// single-image docker-archive), so a test can check what a pod would run.
func ReadTarball(file string) (Contents, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(file) }
	manifest, err := tarball.LoadManifest(opener)
	if err != nil {
		return Contents{}, fmt.Errorf("read image tarball %s: %w", file, err)
	}
	if len(manifest) != 1 {
		return Contents{}, fmt.Errorf("read image tarball %s: %d images, want 1", file, len(manifest))
	}
	img, err := tarball.Image(opener, nil)
	if err != nil {
		return Contents{}, fmt.Errorf("read image tarball %s: %w", file, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return Contents{}, fmt.Errorf("read image tarball %s: config: %w", file, err)
	}
	c := Contents{Tags: manifest[0].RepoTags, Config: cfg.Config, Entries: map[string]Entry{}}
	err = walk(img, func(hdr *tar.Header, _ io.Reader) error {
		c.Entries[path.Clean("/"+hdr.Name)] = Entry{Dir: hdr.Typeflag == tar.TypeDir, Mode: hdr.Mode, Size: hdr.Size}
		return nil
	})
	if err != nil {
		return Contents{}, fmt.Errorf("read image tarball %s: %w", file, err)
	}
	return c, nil
}

// ReadFile returns one file of an image tarball's filesystem, e.g. a
// binary whose build info a test checks.
func ReadFile(file, name string) ([]byte, error) {
	img, err := tarball.Image(func() (io.ReadCloser, error) { return os.Open(file) }, nil)
	if err != nil {
		return nil, fmt.Errorf("read image tarball %s: %w", file, err)
	}
	var data []byte
	found := false
	err = walk(img, func(hdr *tar.Header, r io.Reader) error {
		if path.Clean("/"+hdr.Name) != path.Clean(name) || hdr.Typeflag != tar.TypeReg {
			return nil
		}
		found = true
		var rerr error
		data, rerr = io.ReadAll(r)
		return rerr
	})
	if err == nil && !found {
		err = os.ErrNotExist
	}
	if err != nil {
		return nil, fmt.Errorf("read %s from image tarball %s: %w", name, file, err)
	}
	return data, nil
}

// walk visits the flattened filesystem of img, as the runtime unpacks it.
func walk(img v1.Image, fn func(*tar.Header, io.Reader) error) error {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(hdr, tr); err != nil {
			return err
		}
	}
}

package image

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// An image written as a tarball reads back with its files, modes,
// parents and entrypoint, and the same inputs give the same digest.
func TestWriteTarballReadsBack(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "prog")
	if err := os.WriteFile(bin, []byte("#!binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Ref: "example.test/app:1", Files: []File{{Src: bin, Path: "/usr/bin/prog", Mode: 0o755}},
		Dirs: []string{"/tmp"}, Entrypoint: []string{"/usr/bin/prog"}}
	out := filepath.Join(dir, "app.tar")
	if err := WriteTarball(spec, out); err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(spec.Ref)
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Config.Entrypoint, spec.Entrypoint) || cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Fatalf("config = %+v", cfg)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := map[string]int64{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[hdr.Name] = hdr.Mode
	}
	want := map[string]int64{"tmp/": 0o1777, "usr/": 0o755, "usr/bin/": 0o755, "usr/bin/prog": 0o755}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("layer holds %v, want %v", got, want)
	}
	again, _ := Build(spec)
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Fatalf("same inputs, digests %s and %s", d1, d2)
	}
}

// An image with aliases is one image under every ref: each reads back
// from the same tarball with the same digest.
func TestWriteTarballAliasesReadBackAsTheSameImage(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "pause")
	if err := os.WriteFile(bin, []byte("#!binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Ref: "localhost/app/pause:1", Aliases: []string{"registry.k8s.io/pause:3.10"},
		Files: []File{{Src: bin, Path: "/pause", Mode: 0o755}}, Entrypoint: []string{"/pause"}}
	out := filepath.Join(dir, "pause.tar")
	if err := WriteTarball(spec, out); err != nil {
		t.Fatal(err)
	}
	var digests []string
	for _, ref := range append([]string{spec.Ref}, spec.Aliases...) {
		tag, _ := name.NewTag(ref)
		img, err := tarball.ImageFromPath(out, &tag)
		if err != nil {
			t.Fatalf("%s is not in the tarball: %v", ref, err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d.String())
	}
	if digests[0] != digests[1] {
		t.Errorf("the refs name different images: %v", digests)
	}
}

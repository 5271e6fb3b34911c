package image

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

// built holds, per kind, out dir and ref, this process's tarball, so a
// test binary compiles and packs each image once.
var built sync.Map // key string -> *buildOnce

type buildOnce struct {
	once sync.Once
	path string
	err  error
}

// cached builds an image with specOf (given a temp dir for its binaries)
// and writes it to outDir/<kind>-<hash>.tar, where hash covers the image
// digest and ref: a tarball already there from another process or an
// earlier run is the same image and is reused. Compiling is never skipped:
// the Go build cache makes an unchanged build quick, and only the build
// can tell whether the sources changed.
func cached(kind, outDir, ref string, specOf func(tmp string) (Spec, error)) (string, error) {
	v, _ := built.LoadOrStore(kind+"\x00"+outDir+"\x00"+ref, &buildOnce{})
	b := v.(*buildOnce)
	b.once.Do(func() { b.path, b.err = buildCached(kind, outDir, ref, specOf) })
	return b.path, b.err
}

func buildCached(kind, outDir, ref string, specOf func(tmp string) (Spec, error)) (string, error) {
	if _, err := name.NewTag(ref); err != nil {
		return "", fmt.Errorf("%s image reference %q: %w", kind, ref, err)
	}
	tmp, err := os.MkdirTemp("", "meta-cni-image-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	spec, err := specOf(tmp)
	if err != nil {
		return "", err
	}
	img, err := Build(spec)
	if err != nil {
		return "", err
	}
	digest, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("%s image %s: digest: %w", kind, ref, err)
	}
	sum := sha256.Sum256([]byte(ref + "\x00" + digest.String()))
	out := filepath.Join(outDir, kind+"-"+hex.EncodeToString(sum[:])[:12]+".tar")
	if _, err := os.Stat(out); err == nil {
		progressf("reusing %s image %s (%s)", kind, out, digest.Hex[:12])
		return out, nil
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", fmt.Errorf("%s image %s: %w", kind, ref, err)
	}
	if err := writeImage(img, ref, out); err != nil {
		return "", err
	}
	progressf("wrote %s image %s as %s (%s)", kind, ref, out, digest.Hex[:12])
	pruneStale(outDir, kind)
	return out, nil
}

// staleAfter is the age past which an image tarball of an earlier build
// is removed: each source change leaves a new one, tens of MB each, and
// no test imports a tarball that old.
const staleAfter = time.Hour

func pruneStale(outDir, kind string) {
	old, _ := filepath.Glob(filepath.Join(outDir, kind+"-*.tar"))
	for _, f := range old {
		if st, err := os.Stat(f); err == nil && time.Since(st.ModTime()) > staleAfter {
			_ = os.Remove(f)
		}
	}
}

// tagOf is ref's tag ("0.1.0" of "ghcr.io/meta-cni/meta-cni:0.1.0").
func tagOf(ref string) (string, error) {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return "", fmt.Errorf("image reference %q: want registry/repository:tag: %w", ref, err)
	}
	return tag.TagStr(), nil
}

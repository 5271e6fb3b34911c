package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/meta-cni/meta-cni/internal/atomicfile"
)

// tempPrefix marks the daemon's temp files, so a crash's leftovers can be
// told apart from anything else in the host's directories.
const tempPrefix = ".meta-cni-daemon-"

// writeAtomic replaces path with data; see atomicfile.Write.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	return atomicfile.Write(path, bytes.NewReader(data), mode, tempPrefix)
}

func writeAtomicFrom(path string, src io.Reader, mode os.FileMode) error {
	return atomicfile.Write(path, src, mode, tempPrefix)
}

// privateDir makes dir, or takes over one a host already has, as 0700:
// MkdirAll keeps an existing dir's mode, and in a world-writable one
// anybody could swap the token or key for a file of their own.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.Chmod(dir, 0o700)
}

// sameFile reports whether dst exists with exactly src's content, comparing
// in chunks so two large binaries are never both held in memory.
func sameFile(src, dst string) (bool, error) {
	si, err := os.Stat(src)
	if err != nil {
		return false, err
	}
	di, err := os.Stat(dst)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !di.Mode().IsRegular() || si.Size() != di.Size() {
		return false, nil
	}
	a, err := os.Open(src)
	if err != nil {
		return false, err
	}
	defer a.Close()
	b, err := os.Open(dst)
	if err != nil {
		return false, err
	}
	defer b.Close()
	bufA, bufB := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, errA := io.ReadFull(a, bufA)
		nb, errB := io.ReadFull(b, bufB)
		if !bytes.Equal(bufA[:na], bufB[:nb]) {
			return false, nil
		}
		if errA == io.EOF || errA == io.ErrUnexpectedEOF {
			return errB == io.EOF || errB == io.ErrUnexpectedEOF, nil
		}
		if errA != nil {
			return false, errA
		}
		if errB != nil {
			return false, errB
		}
	}
}

// sameContent reports whether path holds exactly data.
func sameContent(path string, data []byte) bool {
	old, err := os.ReadFile(path)
	return err == nil && bytes.Equal(old, data)
}

// removeStaleTemps deletes temp files a killed daemon left in dir.
func removeStaleTemps(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove stale temp file %s: %w", e.Name(), err)
			}
		}
	}
	return nil
}

// regularFiles lists the visible regular files of dir, following symlinks:
// Secret and ConfigMap volumes expose their keys as links into "..data".
func regularFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		if fi.Mode().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

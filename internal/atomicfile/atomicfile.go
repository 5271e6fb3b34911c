// Package atomicfile replaces files so that a reader, or a node coming
// back from a crash, sees the old content or the new, never a mix.
package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
)

// Write replaces path with src's content and mode: a temp file named
// tempPrefix+base+"-*" in the same directory, fsync, rename, then fsync of
// the directory so the rename itself survives a crash.
func Write(path string, src io.Reader, mode os.FileMode, tempPrefix string) error {
	return write(path, src, mode, tempPrefix, true)
}

// WriteNoSync replaces path the same way without either fsync: readers
// never see a partial file, and the file survives its writer crashing, but
// not the machine crashing.
func WriteNoSync(path string, src io.Reader, mode os.FileMode, tempPrefix string) error {
	return write(path, src, mode, tempPrefix, false)
}

func write(path string, src io.Reader, mode os.FileMode, tempPrefix string, durable bool) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, tempPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	// Chmod before the content lands, so a secret is never world-readable.
	err = tmp.Chmod(mode)
	if err == nil {
		_, err = io.Copy(tmp, src)
	}
	if err == nil && durable {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil && durable {
		err = SyncDir(dir)
	}
	return err
}

// SyncDir makes the directory's entries durable; a missing directory has
// nothing to sync.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

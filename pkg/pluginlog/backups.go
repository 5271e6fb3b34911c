package pluginlog

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// backupTimeFormat is the time lumberjack writes into a backup's name,
// <name>-<time><ext>, in UTC; documented on lumberjack.Logger.
const backupTimeFormat = "2006-01-02T15-04-05.000"

const (
	gzSuffix  = ".gz"
	tmpSuffix = ".gz.tmp" // a compression in progress, or one whose process died
)

// backup is one rotation of the log file: its plain file, its gzipped
// copy, or both while it is being compressed.
type backup struct {
	at    time.Time
	plain string // "" once compressed
	gz    string
	tmp   string
}

// listBackups returns the backups of the log file at path, newest first,
// with any temporary file of a compression among them.
func listBackups(path string) ([]*backup, error) {
	dir, base := filepath.Split(path)
	ext := filepath.Ext(base)
	prefix := strings.TrimSuffix(base, ext) + "-"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list backups of %s: %w", path, err)
	}
	byStamp := map[string]*backup{}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if e.IsDir() || !ok {
			continue
		}
		var stamp string
		var slot func(*backup) *string
		switch {
		case strings.HasSuffix(rest, ext+tmpSuffix):
			stamp, slot = strings.TrimSuffix(rest, ext+tmpSuffix), func(b *backup) *string { return &b.tmp }
		case strings.HasSuffix(rest, ext+gzSuffix):
			stamp, slot = strings.TrimSuffix(rest, ext+gzSuffix), func(b *backup) *string { return &b.gz }
		case strings.HasSuffix(rest, ext):
			stamp, slot = strings.TrimSuffix(rest, ext), func(b *backup) *string { return &b.plain }
		default:
			continue
		}
		at, err := time.Parse(backupTimeFormat, stamp)
		if err != nil {
			continue // another program's file that shares the prefix
		}
		b := byStamp[stamp]
		if b == nil {
			b = &backup{at: at}
			byStamp[stamp] = b
		}
		*slot(b) = filepath.Join(dir, e.Name())
	}
	out := make([]*backup, 0, len(byStamp))
	for _, b := range byStamp {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].at.After(out[j].at) })
	return out, nil
}

// pruneBackups removes the backups beyond maxBackups and those older than
// maxAge days. The caller holds the write lock.
func pruneBackups(path string, rot rotation, now time.Time) error {
	backups, err := listBackups(path)
	if err != nil {
		return err
	}
	cutoff := time.Time{}
	if rot.maxAge > 0 {
		cutoff = now.Add(-time.Duration(rot.maxAge) * 24 * time.Hour)
	}
	var errs []error
	kept := 0
	for _, b := range backups {
		if b.plain == "" && b.gz == "" {
			continue // a compression's temporary file is not a backup
		}
		if kept < rot.maxBackups && !b.at.Before(cutoff) {
			kept++
			continue
		}
		for _, name := range []string{b.plain, b.gz} {
			if name == "" {
				continue
			}
			if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove old log backup: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// compressBackups gzips every plain backup, one process at a time. Each
// is written to a temporary file and renamed into place under the write
// lock, and only if pruning has not removed its source meanwhile, so a
// process killed halfway leaves the plain backup and a temporary file that
// the next compression removes.
func (f *file) compressBackups(wait bool) {
	if err := f.lockRange(compressLock, wait); err != nil {
		return // another process is compressing
	}
	defer f.unlockRange(compressLock)
	backups, err := listBackups(f.path)
	if err != nil {
		return
	}
	for _, b := range backups {
		if b.tmp != "" {
			_ = os.Remove(b.tmp) // only the holder of the compress lock writes one
		}
		if b.plain == "" {
			continue
		}
		tmp := b.plain + tmpSuffix
		if err := gzipFile(b.plain, tmp); err != nil {
			_ = os.Remove(tmp)
			continue
		}
		f.commitCompressed(b.plain, tmp)
	}
}

// commitCompressed replaces plain with its gzipped copy tmp, unless
// pruning removed plain while it was being compressed.
func (f *file) commitCompressed(plain, tmp string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.lockRange(writeLock, true); err != nil {
		_ = os.Remove(tmp)
		return
	}
	defer f.unlockRange(writeLock)
	if _, err := os.Stat(plain); err != nil {
		_ = os.Remove(tmp)
		return
	}
	if err := os.Rename(tmp, plain+gzSuffix); err != nil {
		_ = os.Remove(tmp)
		return
	}
	_ = os.Remove(plain)
}

// gzipFile writes src, gzipped, to dst with mode 0600, and syncs it: the
// plain file is removed once dst is renamed into place.
func gzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	_, err = io.Copy(zw, in)
	return errors.Join(err, zw.Close(), out.Sync(), out.Close())
}

package pluginlog

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// touch creates each named file in dir.
func touch(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestListBackupsFindsLumberjacksNamesOnly(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir,
		"meta-cni.log", "meta-cni.log.lock",
		"meta-cni-2026-03-01T10-00-00.000.log",
		"meta-cni-2026-03-02T10-00-00.000.log.gz",
		"meta-cni-2026-03-03T10-00-00.000.log", "meta-cni-2026-03-03T10-00-00.000.log.gz.tmp",
		"meta-cni-daemon.log", "meta-cni-notatime.log", "other-2026-03-01T10-00-00.000.log",
		"meta-cni-2026-03-04T10-00-00.000.txt")
	got, err := listBackups(filepath.Join(dir, "meta-cni.log"))
	if err != nil {
		t.Fatal(err)
	}
	var stamps []string
	for _, b := range got {
		stamps = append(stamps, b.at.Format(backupTimeFormat)+" "+filepath.Base(b.plain)+" "+filepath.Base(b.gz)+" "+filepath.Base(b.tmp))
	}
	want := []string{
		"2026-03-03T10-00-00.000 meta-cni-2026-03-03T10-00-00.000.log . meta-cni-2026-03-03T10-00-00.000.log.gz.tmp",
		"2026-03-02T10-00-00.000 . meta-cni-2026-03-02T10-00-00.000.log.gz .",
		"2026-03-01T10-00-00.000 meta-cni-2026-03-01T10-00-00.000.log . .",
	}
	if !slices.Equal(stamps, want) {
		t.Fatalf("listBackups = %q, want %q", stamps, want)
	}
}

func TestPruneBackupsKeepsTheNewestWithinMaxBackupsAndMaxAge(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	all := []string{
		"p-2026-03-10T11-00-00.000.log",                                     // today
		"p-2026-03-09T11-00-00.000.log.gz",                                  // a day old
		"p-2026-03-08T11-00-00.000.log", "p-2026-03-08T11-00-00.000.log.gz", // being compressed: one backup
		"p-2026-03-01T11-00-00.000.log.gz", // nine days old
	}
	for _, tc := range []struct {
		name string
		rot  rotation
		want []string
	}{
		{"count only", rotation{maxBackups: 2}, all[:2]},
		{"both forms of a backup count once", rotation{maxBackups: 3}, all[:4]},
		{"age only", rotation{maxBackups: 10, maxAge: 7}, all[:4]},
		{"age tighter than count", rotation{maxBackups: 10, maxAge: 1}, all[:1]},
		{"room for all", rotation{maxBackups: 10}, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			touch(t, dir, append([]string{"p.log", "p-2026-03-01T11-00-00.000.log.gz.tmp"}, all...)...)
			if err := pruneBackups(filepath.Join(dir, "p.log"), tc.rot, now); err != nil {
				t.Fatal(err)
			}
			want := append([]string{"p.log", "p-2026-03-01T11-00-00.000.log.gz.tmp"}, tc.want...)
			got := names(t, dir)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("left %q, want %q", got, want)
			}
		})
	}
}

func TestCompressBackupsFinishesWhatAKilledProcessLeft(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.log")
	plain := "p-2026-03-08T11-00-00.000.log"
	// A process died halfway: the plain backup and a partial temporary file.
	touch(t, dir, "p.log", plain, plain+".gz.tmp")
	f, err := openFile(path, rotation{maxSize: 1, maxBackups: 5, compress: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.compressBackups(false)
	if got, want := names(t, dir), []string{plain + ".gz", "p.log", "p.log.lock"}; !slices.Equal(got, want) {
		t.Fatalf("left %q, want %q", got, want)
	}
	gz, err := os.Open(filepath.Join(dir, plain+".gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer gz.Close()
	zr, err := gzip.NewReader(gz)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := io.ReadAll(zr); string(data) != plain+"\n" {
		t.Fatalf("compressed backup holds %q", data)
	}
	if fi, _ := gz.Stat(); fi.Mode().Perm() != 0o600 {
		t.Fatalf("compressed backup mode %o", fi.Mode().Perm())
	}
}

func TestACompressedCopyOfAPrunedBackupIsDropped(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.log")
	plain := filepath.Join(dir, "p-2026-03-08T11-00-00.000.log")
	touch(t, dir, "p.log", filepath.Base(plain), filepath.Base(plain)+tmpSuffix)
	f, err := openFile(path, rotation{maxSize: 1, maxBackups: 5, compress: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Pruning removed the source while it was being compressed.
	if err := os.Remove(plain); err != nil {
		t.Fatal(err)
	}
	f.commitCompressed(plain, plain+tmpSuffix)
	if got, want := names(t, dir), []string{"p.log", "p.log.lock"}; !slices.Equal(got, want) {
		t.Fatalf("left %q, want %q: a pruned backup must not come back compressed", got, want)
	}
}

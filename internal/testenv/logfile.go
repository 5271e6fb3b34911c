package testenv

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// PrefillLine fills a log file in FillLogFile; a rotated copy holding it
// is the file as it was before the plugin ran.
const PrefillLine = "prefill: a line written by the test before the plugin ran\n"

// FillLogFile writes a log file at path a few bytes short of maxSizeMB
// megabytes, mode 0600, so the next line a plugin logs there rotates it.
func FillLogFile(t testing.TB, path string, maxSizeMB int) {
	t.Helper()
	size := maxSizeMB<<20 - 16
	data := bytes.Repeat([]byte(PrefillLine), size/len(PrefillLine)+1)[:size]
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// LogBackups lists the rotated copies of the log file at path, named as
// lumberjack names them: <name>-<time><ext>, with .gz when compressed.
func LogBackups(t testing.TB, path string) []string {
	t.Helper()
	ext := filepath.Ext(path)
	found, err := filepath.Glob(strings.TrimSuffix(path, ext) + "-*" + ext + "*")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range found {
		if strings.HasSuffix(f, ext) || strings.HasSuffix(f, ext+".gz") {
			out = append(out, f)
		}
	}
	return out
}

// ReadLog returns a log file's text, gunzipped when its name ends in .gz.
func ReadLog(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		r = zr
	}
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(data)
}

// Mode is the permission bits of the file at path.
func Mode(t testing.TB, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

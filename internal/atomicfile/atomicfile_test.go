package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteReplacesContentAndModeAndLeavesNoTempFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, strings.NewReader("new"), 0o600, ".tmp-"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	info, _ := os.Stat(path)
	if string(data) != "new" || info.Mode().Perm() != 0o600 {
		t.Fatalf("content %q mode %v", data, info.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the file", len(entries))
	}
}

func TestWriteIntoAMissingDirectoryFailsWithoutCreatingIt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	if err := Write(filepath.Join(dir, "f"), strings.NewReader("x"), 0o600, "."); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("directory was created: %v", err)
	}
}

func TestSyncDirOfAMissingDirectoryIsNotAnError(t *testing.T) {
	if err := SyncDir(filepath.Join(t.TempDir(), "gone")); err != nil {
		t.Fatal(err)
	}
}

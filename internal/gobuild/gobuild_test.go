package gobuild

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// module writes a tiny module with a main package and returns its dir.
func module(t *testing.T, main string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":  "module example.test/tiny\n\ngo 1.22\n",
		"main.go": main,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRunBuildsWithFlagsAndReportsProgress(t *testing.T) {
	dir := module(t, "package main\n\nvar Version = \"none\"\n\nfunc main() { println(Version) }\n")
	out := filepath.Join(t.TempDir(), "tiny")
	var mu sync.Mutex
	var lines []string
	b := Build{
		Name: "tiny", Dir: dir, Pkgs: []string{"."}, Out: out,
		Flags: []string{"-trimpath", "-ldflags", "-X main.Version=v9"},
		Progressf: func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			lines = append(lines, fmt.Sprintf(format, args...))
		},
	}
	if err := b.Run(); err != nil {
		t.Fatal(err)
	}
	got, err := exec.Command(out).CombinedOutput()
	if err != nil {
		t.Fatalf("run the built binary: %v: %s", err, got)
	}
	if strings.TrimSpace(string(got)) != "v9" {
		t.Errorf("the binary prints %q; the ldflag set v9", got)
	}
	if len(lines) < 2 || !strings.Contains(lines[0], "packages to compile at most") || !strings.HasPrefix(lines[len(lines)-1], "built tiny in ") {
		t.Errorf("progress lines %q: want the package count first and the result last", lines)
	}
}

func TestRunReturnsTheCompilersMessage(t *testing.T) {
	dir := module(t, "package main\n\nfunc main() { undefinedThing() }\n")
	err := Build{Name: "broken", Dir: dir, Pkgs: []string{"."}, Out: filepath.Join(t.TempDir(), "x")}.Run()
	if err == nil || !strings.Contains(err.Error(), "undefinedThing") {
		t.Fatalf("error %v: want go's message naming undefinedThing", err)
	}
}

package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI, where nothing may be skipped.
func InCI() bool { return os.Getenv("CI") == "true" }

// RequireRoot fails the test under CI when not root, and skips it elsewhere:
// a developer without root still gets the unit layers.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if InCI() {
		t.Fatal("this test needs root and CI=true forbids skipping it")
	}
	t.Skip("needs root")
}

// RequireTools fails the test under CI when a program it runs is not on
// PATH (.ci/run installs them all), and skips it elsewhere.
func RequireTools(t testing.TB, programs ...string) {
	t.Helper()
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			if InCI() {
				t.Fatalf("%s is missing (.ci/run installs it) and CI=true forbids skipping", p)
			}
			t.Skipf("needs %s", p)
		}
	}
}

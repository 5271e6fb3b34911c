package testenv

import (
	"os"
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

// Package release says which build of meta-cni a binary is: every binary
// (the plugins and the daemon) reports the same Version, so an operator
// can tell what a node runs after an upgrade.
package release

import "runtime/debug"

// Version is set by release builds with
// -ldflags "-X github.com/meta-cni/meta-cni/pkg/release.Version=v1.2.3".
// It must stay uninitialized: the linker's -X only sets a string variable
// that has no initializer or a constant one, and an initializer that calls
// a function would overwrite the flag's value when the package starts.
var Version string

func init() {
	if Version == "" {
		Version = moduleVersion()
	}
}

// moduleVersion is the module's version from the build info ("(devel)"
// for a build from a work tree), for builds without the flag.
func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "unknown"
}

// About is the line a plugin prints on stderr when run without
// CNI_COMMAND (skel's "about"), as the reference plugins print theirs:
// "<name> <version>: <what it does>".
func About(name, what string) string {
	return name + " " + Version + ": " + what
}

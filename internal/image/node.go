package image

import (
	"fmt"
	"os"
	"path/filepath"
)

// The node image's layout, the same as images/Dockerfile's: the chart's
// DaemonSet runs DaemonPath and passes --source-bin-dir=PluginDir, whose
// files the daemon copies into the host's CNI bin dir.
const (
	DaemonPath = "/usr/bin/meta-cni-daemon"
	PluginDir  = "/opt/meta-cni/bin"
)

// NodePlugins are the binaries under PluginDir: every CNI plugin cmd/ builds.
var NodePlugins = []string{"meta-cni", "etcd-ipam", "host-route"}

// NodeSpec is the node image the chart runs, packed from binDir (which
// holds meta-cni-daemon and NodePlugins, as `make build` leaves bin/) and
// tagged ref.
func NodeSpec(binDir, ref, version string) (Spec, error) {
	spec := Spec{
		Ref:        ref,
		Dirs:       []string{"/tmp"},
		Entrypoint: []string{DaemonPath},
		Labels: map[string]string{
			"org.opencontainers.image.title":   "meta-cni",
			"org.opencontainers.image.version": version,
			"org.opencontainers.image.source":  "https://github.com/meta-cni/meta-cni",
		},
	}
	add := func(name, path string) error {
		src := filepath.Join(binDir, name)
		if fi, err := os.Stat(src); err != nil || !fi.Mode().IsRegular() {
			return fmt.Errorf("node image %s: binary %s missing from %s (make build puts it there)", ref, name, binDir)
		}
		spec.Files = append(spec.Files, File{Src: src, Path: path, Mode: 0o755})
		return nil
	}
	if err := add("meta-cni-daemon", DaemonPath); err != nil {
		return Spec{}, err
	}
	for _, p := range NodePlugins {
		if err := add(p, PluginDir+"/"+p); err != nil {
			return Spec{}, err
		}
	}
	return spec, nil
}

// Node builds the node image tagged ref into outDir, once per process and
// reused across processes while its content is the same, and returns the
// tarball's path. The binaries' version is ref's tag, so two refs give
// two daemons that report different versions (an upgrade test's need).
func Node(outDir, ref string) (string, error) {
	version, err := tagOf(ref)
	if err != nil {
		return "", err
	}
	return cached("node", outDir, ref, func(tmp string) (Spec, error) {
		if err := GoBuild(tmp, version, "./cmd/..."); err != nil {
			return Spec{}, fmt.Errorf("node image %s: %w", ref, err)
		}
		return NodeSpec(tmp, ref, version)
	})
}

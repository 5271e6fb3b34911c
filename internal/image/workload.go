package image

import (
	"fmt"
	"path/filepath"
)

// WorkloadRef is the tag of the e2e tests' workload image: "localhost/"
// so that no runtime ever tries to pull it from a registry.
const WorkloadRef = "localhost/meta-cni/workload:test"

// WorkloadPort is where images/workload serves HTTP in the image.
const WorkloadPort = 8080

// WorkloadSpec is images/workload's binary at /usr/bin/workload as the
// entrypoint, tagged ref.
func WorkloadSpec(bin, ref string) Spec {
	return Spec{
		Ref:        ref,
		Files:      []File{{Src: bin, Path: "/usr/bin/workload", Mode: 0o755}},
		Dirs:       []string{"/tmp"},
		Entrypoint: []string{"/usr/bin/workload"},
		Env:        []string{fmt.Sprintf("LISTEN_ADDRESS=:%d", WorkloadPort)},
	}
}

// Workload builds the workload image into outDir, once per process and
// reused across processes while its content is the same, and returns the
// tarball's path and its ref (WorkloadRef), for `ctr images import`.
func Workload(outDir string) (tarball, ref string, err error) {
	tarball, err = cached("workload", outDir, WorkloadRef, func(tmp string) (Spec, error) {
		if err := GoBuild(tmp, "", "./images/workload"); err != nil {
			return Spec{}, fmt.Errorf("workload image: %w", err)
		}
		return WorkloadSpec(filepath.Join(tmp, "workload"), WorkloadRef), nil
	})
	return tarball, WorkloadRef, err
}

package metacni

import (
	"path/filepath"
	"slices"
)

// searchPath is where delegates' plugins are looked for: binDir first,
// then the runtime's CNI_PATH, as Multus v4.2.3 builds it in
// pkg/multus/multus.go. binDir adds plugins; it must not hide the ones
// k3s, RKE2 or OpenShift keep only on their own CNI_PATH.
func searchPath(binDir, cniPath string) []string {
	var dirs []string
	if binDir != "" {
		dirs = append(dirs, binDir)
	}
	for _, d := range filepath.SplitList(cniPath) {
		if d != "" && !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

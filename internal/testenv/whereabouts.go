package testenv

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// WhereaboutsVersion is the Whereabouts release pinned in
// hack/tools/whereabouts: the IPAM of the reference install the soak
// harness runs beside meta-cni.
const WhereaboutsVersion = "v0.9.2"

const whereaboutsModule = "github.com/k8snetworkplumbingwg/whereabouts"

// WhereaboutsBinary builds Whereabouts' CNI plugin (the module's cmd
// package) from hack/tools/whereabouts into .cache/tools (once) and returns
// its path.
func WhereaboutsBinary() (string, error) {
	path, err := buildTool("whereabouts", whereaboutsModule+"/cmd", "whereabouts-"+WhereaboutsVersion)
	if err != nil {
		return "", fmt.Errorf("build Whereabouts %s: %w", WhereaboutsVersion, err)
	}
	return path, nil
}

// WhereaboutsControlLoopBinary builds ip-control-loop, the process
// Whereabouts' daemonset runs on every node: it releases the addresses of
// deleted pods (pod informer) and runs the cron reconciler, the only leak
// reclaim v0.9.2 has (the standalone ip-reconciler is gone).
func WhereaboutsControlLoopBinary() (string, error) {
	path, err := buildTool("whereabouts", whereaboutsModule+"/cmd/controlloop", "whereabouts-ip-control-loop-"+WhereaboutsVersion)
	if err != nil {
		return "", fmt.Errorf("build Whereabouts ip-control-loop %s: %w", WhereaboutsVersion, err)
	}
	return path, nil
}

var (
	whereaboutsDirOnce sync.Once
	whereaboutsDir     string
	whereaboutsDirErr  error
)

// WhereaboutsModuleDir is the Whereabouts module in the Go module cache,
// downloaded (and checked against hack/tools/whereabouts/go.sum) on first
// use: its CRDs and install manifest are read from there, not copied.
func WhereaboutsModuleDir() (string, error) {
	whereaboutsDirOnce.Do(func() {
		cmd := exec.Command("go", "mod", "download", "-json", whereaboutsModule)
		cmd.Dir = filepath.Join(RepoRoot(), "hack", "tools", "whereabouts")
		out, err := cmd.Output()
		if err != nil {
			whereaboutsDirErr = fmt.Errorf("download the Whereabouts module: %w%s", err, stderrOf(err))
			return
		}
		var mod struct{ Dir string }
		if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
			whereaboutsDirErr = fmt.Errorf("locate the Whereabouts module in %s: %v", out, err)
			return
		}
		whereaboutsDir = mod.Dir
	})
	return whereaboutsDir, whereaboutsDirErr
}

// whereaboutsFile is a file of the Whereabouts module, by its path there.
func whereaboutsFile(rel string) ([]byte, error) {
	dir, err := WhereaboutsModuleDir()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		return nil, fmt.Errorf("read Whereabouts %s: %w", rel, err)
	}
	return data, nil
}

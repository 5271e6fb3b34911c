package delegate

import (
	"context"

	"github.com/containernetworking/cni/pkg/invoke"
)

// envExec runs plugins with extra environment entries after the ones
// libcni passes (the process's own and the CNI_* variables), so they win
// over a variable of the same name: os/exec uses a key's last value.
type envExec struct {
	invoke.Exec
	env []string
}

func (e envExec) ExecPlugin(ctx context.Context, pluginPath string, stdinData []byte, environ []string) ([]byte, error) {
	full := make([]string, 0, len(environ)+len(e.env))
	full = append(append(full, environ...), e.env...)
	return e.Exec.ExecPlugin(ctx, pluginPath, stdinData, full)
}

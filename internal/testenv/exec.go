package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/containernetworking/cni/pkg/types"
)

// PluginEnv is the CNI environment a runtime hands a plugin.
type PluginEnv struct {
	Command     string // ADD, DEL, CHECK, STATUS, GC, VERSION
	ContainerID string
	NetNS       string
	IfName      string
	Args        string // CNI_ARGS, e.g. "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p"
	Path        string // CNI_PATH
	Extra       []string
}

func (e PluginEnv) environ() []string {
	env := []string{
		"CNI_COMMAND=" + e.Command,
		"CNI_CONTAINERID=" + e.ContainerID,
		"CNI_NETNS=" + e.NetNS,
		"CNI_IFNAME=" + e.IfName,
		"CNI_ARGS=" + e.Args,
		"CNI_PATH=" + e.Path,
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	}
	return append(env, e.Extra...)
}

// PluginError is a plugin's failed run: its parsed CNI error when it printed
// one, and its stderr.
type PluginError struct {
	CNI    *types.Error
	Stderr string
	Err    error
}

func (e *PluginError) Error() string {
	if e.CNI != nil {
		return fmt.Sprintf("cni error code %d: %s (%s); stderr: %s", e.CNI.Code, e.CNI.Msg, e.CNI.Details, strings.TrimSpace(e.Stderr))
	}
	return fmt.Sprintf("%v; stderr: %s", e.Err, strings.TrimSpace(e.Stderr))
}

// ExecPlugin runs the plugin binary at path exactly as a runtime does: a
// clean environment of CNI_* variables and the config on stdin. It returns
// stdout on success and a *PluginError on failure.
func ExecPlugin(ctx context.Context, path string, env PluginEnv, stdin []byte) ([]byte, error) {
	return execPlugin(ctx, path, env, stdin)
}

// ExecPluginUsage is ExecPlugin that returns the run's resource usage:
// Maxrss is the largest resident set among the plugin and the children it
// waited for, Utime and Stime their CPU time. The plugin is started by the
// small rusage helper (internal/testenv/rusage), not by the test process,
// whose own high-water mark would otherwise be reported as the plugin's.
func ExecPluginUsage(ctx context.Context, path string, env PluginEnv, stdin []byte) (*syscall.Rusage, error) {
	dir, err := CNIPath()
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "rusage"), path)
	cmd.ExtraFiles = []*os.File{w}
	_, err = runPlugin(cmd, env, stdin)
	w.Close()
	report, rerr := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var maxrss, utime, stime int64
	if _, serr := fmt.Sscan(string(report), &maxrss, &utime, &stime); rerr != nil || serr != nil {
		return nil, fmt.Errorf("rusage helper reported %q: %v %v", report, rerr, serr)
	}
	return &syscall.Rusage{Maxrss: maxrss, Utime: syscall.NsecToTimeval(utime * 1000), Stime: syscall.NsecToTimeval(stime * 1000)}, nil
}

func execPlugin(ctx context.Context, path string, env PluginEnv, stdin []byte) ([]byte, error) {
	return runPlugin(exec.CommandContext(ctx, path), env, stdin)
}

func runPlugin(cmd *exec.Cmd, env PluginEnv, stdin []byte) ([]byte, error) {
	cmd.Env = env.environ()
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err != nil {
		perr := &PluginError{Stderr: stderr.String(), Err: err}
		var cniErr types.Error
		if json.Unmarshal(stdout.Bytes(), &cniErr) == nil && (cniErr.Code != 0 || cniErr.Msg != "") {
			perr.CNI = &cniErr
		}
		return nil, perr
	}
	return stdout.Bytes(), nil
}

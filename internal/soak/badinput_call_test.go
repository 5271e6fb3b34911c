package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/ns"
)

// rawCall is one call of the runtime's meta-plugin, made as libcni makes
// it (the conf with the list's name and cniVersion, the CNI environment)
// but without libcni's own checks of the container ID, interface and
// network names: what a broken or hostile runtime sends reaches the
// plugin, whose checks are what the scenario measures.
type rawCall struct {
	containerID, ifName, netName, netns string
	args                                [][2]string
}

func newRawCall(p *podRun, list *libcni.NetworkConfigList) *rawCall {
	return &rawCall{containerID: p.rt.ContainerID, ifName: p.rt.IfName, netName: list.Name, netns: p.rt.NetNS,
		args: append([][2]string(nil), p.rt.Args...)}
}

func (c *rawCall) setArg(key, value string) {
	for i, a := range c.args {
		if a[0] == key {
			c.args[i][1] = value
			return
		}
	}
	c.args = append(c.args, [2]string{key, value})
}

// stdin is the first plugin's conf with the list's name and cniVersion
// put in, as libcni's buildOneConfig does.
func (c *rawCall) stdin(list *libcni.NetworkConfigList) ([]byte, error) {
	if len(list.Plugins) == 0 {
		return nil, fmt.Errorf("conflist %s has no plugin", list.Name)
	}
	var conf map[string]any
	if err := json.Unmarshal(list.Plugins[0].Bytes, &conf); err != nil {
		return nil, err
	}
	conf["name"], conf["cniVersion"] = c.netName, list.CNIVersion
	return json.Marshal(conf)
}

// callOutcome is what one raw call gave back.
type callOutcome struct {
	err    error
	stderr string
	took   time.Duration
}

// badCallTimeout bounds one bad input's call; a plugin that hangs on one
// is a finding, and is killed as the kubelet's runtime request times out.
const badCallTimeout = 90 * time.Second

// run execs the node's installed meta-plugin for verb from inside the
// node's netns, with its stderr kept (a delegate's goes there too).
func (c *rawCall) run(n *node, list *libcni.NetworkConfigList, verb string) callOutcome {
	start := time.Now()
	conf, err := c.stdin(list)
	if err != nil {
		return callOutcome{err: err}
	}
	ex := &stderrExec{}
	args := &invoke.Args{Command: verb, ContainerID: c.containerID, NetNS: c.netns, IfName: c.ifName,
		PluginArgs: c.args, Path: n.binDir()}
	ctx, cancel := context.WithTimeout(context.Background(), badCallTimeout)
	defer cancel()
	err = n.netns().Do(func(ns.NetNS) error {
		path, err := invoke.FindInPath(list.Plugins[0].Network.Type, []string{n.binDir()})
		if err != nil {
			return err
		}
		if verb == "ADD" {
			_, err = invoke.ExecPluginWithResult(ctx, path, conf, args, ex)
			return err
		}
		return invoke.ExecPluginWithoutResult(ctx, path, conf, args, ex)
	})
	if ctx.Err() != nil {
		err = errors.Join(err, fmt.Errorf("no answer in %s", badCallTimeout))
	}
	return callOutcome{err: err, stderr: ex.stderr.String(), took: time.Since(start)}
}

// stderrExec runs a plugin as libcni's RawExec does, but keeps its stderr
// whether it fails or not (RawExec drops it on failure once stdout holds
// an error), since a delegate's panic lands there.
type stderrExec struct {
	version.PluginDecoder
	stderr bytes.Buffer
}

func (e *stderrExec) ExecPlugin(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, pluginPath)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = environ, bytes.NewReader(stdin), &stdout, &e.stderr
	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	var cniErr types.Error
	if stdout.Len() > 0 && json.Unmarshal(stdout.Bytes(), &cniErr) == nil && (cniErr.Code != 0 || cniErr.Msg != "") {
		return nil, &cniErr
	}
	return nil, fmt.Errorf("%s: %w; stderr %q", filepath.Base(pluginPath), err, clipMsg(e.stderr.String()))
}

func (e *stderrExec) FindInPath(plugin string, paths []string) (string, error) {
	return invoke.FindInPath(plugin, paths)
}

// panicked tells a Go panic or fatal error in text (a plugin's stderr or
// log): the runtime's "panic:" line or a goroutine dump.
func panicked(text string) bool {
	return strings.Contains(text, "panic:") || strings.Contains(text, "goroutine ") || strings.Contains(text, "fatal error:")
}

// panicsInLogs counts the lines of the plugins' log files under each
// node's /var/log that show a panic.
func panicsInLogs(c *cluster) (int, []string, error) {
	n, first := 0, []string(nil)
	for _, nd := range c.nodes {
		err := filepath.WalkDir(nd.path("/var/log"), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".log") {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return nil
			}
			for _, line := range strings.Split(string(b), "\n") {
				if panicked(line) {
					n++
					if len(first) < 3 {
						first = append(first, path+": "+line)
					}
				}
			}
			return nil
		})
		if err != nil {
			return 0, nil, err
		}
	}
	return n, first, nil
}

// evilFiles lists every path under the cluster's directory whose name
// holds the path-like names' marker: a file a plugin made from one.
func evilFiles(c *cluster) ([]string, error) {
	var out []string
	err := filepath.WalkDir(c.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if strings.Contains(d.Name(), evil) {
			out = append(out, path)
		}
		return nil
	})
	return out, err
}

// messageLacks is what of want the message does not contain, ignoring
// case, spaces and underscores ("container ID" is "containerID").
func messageLacks(msg string, want []string) []string {
	norm := strings.NewReplacer(" ", "", "_", "").Replace
	msg = norm(strings.ToLower(msg))
	var out []string
	for _, w := range want {
		if !strings.Contains(msg, norm(strings.ToLower(w))) {
			out = append(out, w)
		}
	}
	return out
}

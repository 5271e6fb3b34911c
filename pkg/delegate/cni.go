package delegate

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// CNI is what the runner needs from libcni; tests may replace it. DEL is
// per plugin, not per list, because libcni's DelNetworkList stops at the
// first plugin that fails and so strands the ones before it in the list.
type CNI interface {
	AddNetworkList(ctx context.Context, net *libcni.NetworkConfigList, rt *libcni.RuntimeConf) (types.Result, error)
	CheckNetworkList(ctx context.Context, net *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error
	GCNetworkList(ctx context.Context, net *libcni.NetworkConfigList, args *libcni.GCArgs) error
	GetStatusNetworkList(ctx context.Context, net *libcni.NetworkConfigList) error
	// GetNetworkListCachedResult is the result libcni cached when the list's
	// ADD succeeded, or nil.
	GetNetworkListCachedResult(net *libcni.NetworkConfigList, rt *libcni.RuntimeConf) (types.Result, error)
	// DelPlugin runs DEL of plugin i of the list with prevResult.
	DelPlugin(ctx context.Context, net *libcni.NetworkConfigList, i int, prevResult types.Result, rt *libcni.RuntimeConf) error
	// ForgetResult removes the list's cached result.
	ForgetResult(net *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error
}

// libCNI is libcni plus a DEL of one plugin of a list, built from libcni's
// exported parts so the plugin sees the stdin and environment that
// DelNetworkList would give it.
type libCNI struct {
	*libcni.CNIConfig
	exec invoke.Exec
}

func newLibCNI(binDirs []string, cacheDir string, exec invoke.Exec) *libCNI {
	if exec == nil {
		exec = defaultExec()
	}
	return &libCNI{CNIConfig: libcni.NewCNIConfigWithCacheDir(binDirs, cacheDir, exec), exec: exec}
}

func defaultExec() invoke.Exec {
	return &invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: os.Stderr}, PluginDecoder: version.PluginDecoder{}}
}

// DelPlugin gives the plugin the list's name and cniVersion, prevResult,
// and the runtimeConfig entries its capabilities ask for, as libcni does.
func (c *libCNI) DelPlugin(ctx context.Context, list *libcni.NetworkConfigList, i int, prevResult types.Result, rt *libcni.RuntimeConf) error {
	plugin := list.Plugins[i]
	err := c.delPlugin(ctx, list, plugin, prevResult, rt)
	if err != nil {
		desc := fmt.Sprintf("type=%q", plugin.Network.Type)
		if plugin.Network.Name != "" {
			desc += fmt.Sprintf(" name=%q", plugin.Network.Name)
		}
		return fmt.Errorf("plugin %s failed (delete): %w", desc, err)
	}
	return nil
}

func (c *libCNI) delPlugin(ctx context.Context, list *libcni.NetworkConfigList, plugin *libcni.PluginConfig, prevResult types.Result, rt *libcni.RuntimeConf) error {
	path, err := c.exec.FindInPath(plugin.Network.Type, c.Path)
	if err != nil {
		return err
	}
	inject := map[string]any{"name": list.Name, "cniVersion": list.CNIVersion}
	if prevResult != nil {
		inject["prevResult"] = prevResult
	}
	runtimeConfig := map[string]any{}
	for capability, on := range plugin.Network.Capabilities {
		if v, ok := rt.CapabilityArgs[capability]; ok && on {
			runtimeConfig[capability] = v
		}
	}
	if len(runtimeConfig) > 0 {
		inject["runtimeConfig"] = runtimeConfig
	}
	conf, err := libcni.InjectConf(plugin, inject)
	if err != nil {
		return err
	}
	args := &invoke.Args{
		Command: "DEL", ContainerID: rt.ContainerID, NetNS: rt.NetNS, PluginArgs: rt.Args, IfName: rt.IfName,
		Path: strings.Join(c.Path, string(os.PathListSeparator)),
	}
	return invoke.ExecPluginWithoutResult(ctx, path, conf.Bytes, args, c.exec)
}

// ForgetResult runs libcni's DelNetworkList on the list without its
// plugins: all that is left of it is removing the cached result, through
// libcni's own notion of where that lives.
func (c *libCNI) ForgetResult(list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error {
	empty := &libcni.NetworkConfigList{Name: list.Name, CNIVersion: list.CNIVersion}
	return c.DelNetworkList(context.Background(), empty, rt)
}

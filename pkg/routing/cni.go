package routing

import (
	"context"
	"log/slog"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/meta-cni/meta-cni/pkg/pluginlog"
)

// commandTimeout bounds one command, the wait for the node lock included.
const commandTimeout = 30 * time.Second

// Funcs wires the CNI commands for skel.PluginMainFuncs.
func Funcs() skel.CNIFuncs {
	return skel.CNIFuncs{
		Add: func(args *skel.CmdArgs) error {
			return command("ADD", args, func(ctx context.Context, c *Config, a Attachment) error {
				res, err := Add(ctx, c, a)
				if err != nil {
					return err
				}
				return types.PrintResult(res, c.Raw.CNIVersion)
			})
		},
		Del: func(args *skel.CmdArgs) error {
			return command("DEL", args, func(ctx context.Context, c *Config, a Attachment) error { return Del(ctx, c, a) })
		},
		Check: func(args *skel.CmdArgs) error {
			return command("CHECK", args, func(_ context.Context, c *Config, a Attachment) error { return Check(c, a) })
		},
		GC: func(args *skel.CmdArgs) error {
			return command("GC", args, func(_ context.Context, c *Config, _ Attachment) error { return GC(c) })
		},
		Status: func(args *skel.CmdArgs) error {
			c, err := ParseConfig(args.StdinData)
			if err != nil {
				return CNIError(err)
			}
			if err := Status(c); err != nil {
				return types.NewError(types.ErrPluginNotAvailable, err.Error(), "")
			}
			return nil
		},
	}
}

// command parses the config, bounds the command by commandTimeout, logs
// its outcome and turns its error into the CNI error the runtime receives.
func command(verb string, args *skel.CmdArgs, fn func(context.Context, *Config, Attachment) error) error {
	c, err := ParseConfig(args.StdinData)
	if err != nil {
		return CNIError(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	log, closeLog := pluginlog.New("host-route", c.Raw.Log())
	defer closeLog()
	slog.SetDefault(log) // for the warnings deep in the package
	start := time.Now()
	attrs := []any{"containerID", args.ContainerID, "ifname", args.IfName, "network", c.Raw.Name, "mode", c.Mode}
	if err := fn(ctx, c, AttachmentFromArgs(args)); err != nil {
		log.Error(verb+" failed", append(attrs, "err", err)...)
		return CNIError(err)
	}
	log.Info(verb, append(attrs, "duration", time.Since(start))...)
	return nil
}

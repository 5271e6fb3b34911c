package routing

import (
	"context"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
)

// commandTimeout bounds one command, the wait for the node lock included.
const commandTimeout = 30 * time.Second

// Funcs wires the CNI commands for skel.PluginMainFuncs.
func Funcs() skel.CNIFuncs {
	return skel.CNIFuncs{Add: cmdAdd, Del: cmdDel, Check: cmdCheck, GC: cmdGC, Status: cmdStatus}
}

func cmdAdd(args *skel.CmdArgs) error {
	c, err := ParseConfig(args.StdinData)
	if err != nil {
		return CNIError(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	log, closeLog := logger(c)
	defer closeLog()
	start := time.Now()
	res, err := Add(ctx, c, AttachmentFromArgs(args))
	if err != nil {
		log.Error("ADD failed", "containerID", args.ContainerID, "ifname", args.IfName, "mode", c.Mode, "error", err)
		return CNIError(err)
	}
	log.Info("ADD", "containerID", args.ContainerID, "ifname", args.IfName, "mode", c.Mode, "took", time.Since(start))
	return types.PrintResult(res, c.Raw.CNIVersion)
}

func cmdDel(args *skel.CmdArgs) error {
	c, err := ParseConfig(args.StdinData)
	if err != nil {
		return CNIError(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	log, closeLog := logger(c)
	defer closeLog()
	if err := Del(ctx, c, AttachmentFromArgs(args)); err != nil {
		log.Error("DEL failed", "containerID", args.ContainerID, "ifname", args.IfName, "mode", c.Mode, "error", err)
		return CNIError(err)
	}
	log.Info("DEL", "containerID", args.ContainerID, "ifname", args.IfName, "mode", c.Mode)
	return nil
}

func cmdCheck(args *skel.CmdArgs) error {
	c, err := ParseConfig(args.StdinData)
	if err != nil {
		return CNIError(err)
	}
	if err := Check(c, AttachmentFromArgs(args)); err != nil {
		return CNIError(err)
	}
	return nil
}

func cmdGC(args *skel.CmdArgs) error {
	c, err := ParseConfig(args.StdinData)
	if err != nil {
		return CNIError(err)
	}
	log, closeLog := logger(c)
	defer closeLog()
	if err := GC(c); err != nil {
		log.Error("GC failed", "network", c.Raw.Name, "error", err)
		return CNIError(err)
	}
	return nil
}

func cmdStatus(args *skel.CmdArgs) error {
	c, err := ParseConfig(args.StdinData)
	if err != nil {
		return CNIError(err)
	}
	if err := Status(c); err != nil {
		return types.NewError(types.ErrPluginNotAvailable, err.Error(), "")
	}
	return nil
}

// logger writes to the config's logFile, else to stderr; never to stdout,
// which carries the result.
func logger(c *Config) (*slog.Logger, func()) {
	var w io.Writer = os.Stderr
	closeFn := func() {}
	level := slog.LevelWarn
	if c.Raw.LogFile != "" {
		if f, err := os.OpenFile(c.Raw.LogFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
			w, closeFn, level = f, func() { _ = f.Close() }, slog.LevelInfo
		}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), closeFn
}

package metacni

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
)

// Check replays the attachment record through each delegate's CHECK.
func (p *Plugin) Check(args *skel.CmdArgs) error {
	inv, err := p.begin(args)
	if err != nil {
		return cniError(podRef{}, err)
	}
	defer inv.closer()
	if err := p.check(context.Background(), inv); err != nil {
		inv.log.Error("CHECK failed", "err", err)
		return cniError(inv.pod, err)
	}
	return nil
}

func (p *Plugin) check(ctx context.Context, inv *invocation) error {
	rec, err := inv.store().Read(inv.args.ContainerID)
	if errors.Is(err, os.ErrNotExist) {
		return &unknownContainerError{fmt.Sprintf("container %s has no attachment record: it was never added, or was deleted", inv.args.ContainerID)}
	}
	if err != nil {
		return &ioError{err}
	}
	return p.runner(inv.conf, inv.args).Check(ctx, rec)
}

type unknownContainerError struct{ msg string }

func (e *unknownContainerError) Error() string { return e.msg }

// Status reports whether meta-cni can add pods: the readiness indicator
// file exists and the cluster network's plugins say they are ready.
func (p *Plugin) Status(args *skel.CmdArgs) error {
	inv, err := p.begin(args)
	if err != nil {
		return cniError(podRef{}, err)
	}
	defer inv.closer()
	if f := inv.conf.ReadinessIndicatorFile; f != "" {
		if _, err := os.Stat(f); err != nil {
			return types.NewError(types.ErrPluginNotAvailable, "meta-cni is not ready", fmt.Sprintf("readiness indicator file %s: %v", f, err))
		}
	}
	ctx := context.Background()
	res := &resolver{conf: inv.conf, confs: &confDir{dir: inv.conf.ConfDir}}
	if inv.conf.Kubeconfig != "" || inv.conf.DaemonSocket != "" || os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		if api, err := p.api(inv); err == nil {
			res.api = api
		}
	}
	delegates, err := res.resolve(ctx, "eth0")
	if err != nil {
		return cniError(podRef{}, err)
	}
	if err := p.runner(inv.conf, inv.args).Status(ctx, delegates); err != nil {
		var cniErr *types.Error
		if errors.As(err, &cniErr) {
			return types.NewError(cniErr.Code, "cluster network is not ready", err.Error())
		}
		return types.NewError(types.ErrPluginNotAvailable, "cluster network is not ready", err.Error())
	}
	return nil
}

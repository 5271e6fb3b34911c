package metacni

import (
	"context"
	"errors"
	"os"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/meta-cni/meta-cni/pkg/delegate"
	"github.com/meta-cni/meta-cni/pkg/kube"
)

// Del detaches every network of the container. It uses the attachment
// record and needs no API server; without a record it rebuilds the
// delegates from the API, and with neither it logs and succeeds.
func (p *Plugin) Del(args *skel.CmdArgs) error {
	inv, err := p.begin(args)
	if err != nil {
		return cniError(podRef{}, err)
	}
	defer inv.closer()
	if err := p.del(context.Background(), inv); err != nil {
		inv.log.Error("DEL failed", "err", err)
		return cniError(inv.pod, err)
	}
	return nil
}

func (p *Plugin) del(ctx context.Context, inv *invocation) error {
	if err := delegate.ValidContainerID(inv.args.ContainerID); err != nil {
		return &argsError{err.Error()}
	}
	store := inv.store()
	rn := p.runner(inv.conf, inv.args)
	rec, err := store.Read(inv.args.ContainerID)
	if errors.Is(err, os.ErrNotExist) {
		rec, err = p.recordFromAPI(ctx, inv)
		if err != nil {
			inv.log.Warn("DEL found no attachment record and could not rebuild one; nothing to delete", "err", err)
			return nil
		}
		rec.Delegates = installedOnly(inv, rn, rec.Delegates)
	} else if err != nil {
		return &ioError{err}
	}
	// The runtime's netns path for this DEL wins: the old one may be gone.
	rec.NetNS = inv.args.Netns
	if err := rn.Del(ctx, rec); err != nil {
		// Keep the record so the runtime's retry can finish the job.
		return err
	}
	if err := store.Remove(rec.ContainerID); err != nil {
		return &ioError{err}
	}
	inv.log.Info("deleted", "delegates", len(rec.Delegates))
	return nil
}

// installedOnly drops, from delegates rebuilt without a record, those
// naming a plugin that is not installed: ADD refuses such a network before
// starting anything, so none of it ran, and its DEL could only fail for
// ever. A recorded delegate keeps its DEL error (the plugin may come back).
func installedOnly(inv *invocation, rn *delegate.Runner, ds []delegate.Delegate) []delegate.Delegate {
	var out []delegate.Delegate
	for _, d := range ds {
		if err := rn.Installed(&d); err != nil {
			inv.log.Info("DEL without record: skipping a network whose plugin is not installed", "err", err)
			continue
		}
		out = append(out, d)
	}
	return out
}

// recordFromAPI rebuilds a container's delegates the way ADD built them.
func (p *Plugin) recordFromAPI(ctx context.Context, inv *invocation) (*delegate.Record, error) {
	var api API
	var pod *kube.Pod
	if inv.pod.Name != "" {
		var err error
		if api, err = p.api(inv); err != nil {
			return nil, err
		}
		// The pod may be gone already; its cluster network is still worth
		// deleting, so a failed GET falls back to that alone.
		if pod, err = api.GetPod(ctx, inv.pod.Namespace, inv.pod.Name, inv.pod.UID); err != nil {
			inv.log.Info("DEL without record: pod not readable, deleting the cluster network only", "err", err)
			pod = nil
		}
	}
	res := &resolver{conf: inv.conf, api: api, pod: pod, confs: &confDir{dir: inv.conf.ConfDir}}
	delegates, err := res.resolve(ctx, inv.args.IfName)
	if err != nil {
		return nil, err
	}
	return &delegate.Record{
		ContainerID: inv.args.ContainerID, NetNS: inv.args.Netns, IfName: inv.args.IfName,
		CNIVersion: inv.conf.CNIVersion, PodNamespace: inv.pod.Namespace, PodName: inv.pod.Name,
		Args: inv.cniArgs, Delegates: delegates,
	}, nil
}

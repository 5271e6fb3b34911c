package metacni

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/meta-cni/meta-cni/pkg/annotations"
	"github.com/meta-cni/meta-cni/pkg/delegate"
	"github.com/meta-cni/meta-cni/pkg/kube"
)

// Add attaches every network of the pod and returns the cluster network's
// result in the caller's cniVersion. On any failure it undoes what it did.
func (p *Plugin) Add(args *skel.CmdArgs) error {
	inv, err := p.begin(args)
	if err != nil {
		return cniError(podRef{}, err)
	}
	defer inv.closer()
	result, err := p.add(context.Background(), inv)
	if err != nil {
		inv.log.Error("ADD failed", "err", err)
		return cniError(inv.pod, err)
	}
	return types.PrintResult(result, inv.conf.CNIVersion)
}

func (p *Plugin) add(ctx context.Context, inv *invocation) (types.Result, error) {
	if err := delegate.ValidContainerID(inv.args.ContainerID); err != nil {
		return nil, &argsError{err.Error()}
	}
	phases := newPhaseClock()
	defer func() { inv.log.Debug("ADD timings", phases.attrs()...) }()
	if err := waitReady(ctx, inv.conf); err != nil {
		return nil, err
	}
	phases.mark("ready")
	var api API
	var pod *kube.Pod
	if inv.pod.Name != "" {
		var err error
		if api, err = p.api(inv.conf); err != nil {
			return nil, err
		}
		phases.mark("client")
		if pod, err = api.GetPod(ctx, inv.pod.Namespace, inv.pod.Name, inv.pod.UID); err != nil {
			return nil, &podError{err}
		}
		phases.mark("getPod")
	}
	res := &resolver{conf: inv.conf, api: api, pod: pod, confs: &confDir{dir: inv.conf.ConfDir}}
	delegates, err := res.resolve(ctx, inv.args.IfName)
	if err != nil {
		p.event(ctx, inv, api, pod, "Warning", "NetworkResolutionFailed", err.Error())
		return nil, err
	}
	phases.mark("resolve")
	rec := &delegate.Record{
		ContainerID: inv.args.ContainerID, NetNS: inv.args.Netns, IfName: inv.args.IfName,
		CNIVersion: inv.conf.CNIVersion, PodNamespace: inv.pod.Namespace, PodName: inv.pod.Name,
		PodUID: inv.pod.UID, Args: inv.cniArgs, Delegates: delegates,
	}
	if pod != nil && rec.PodUID == "" {
		rec.PodUID = string(pod.UID)
	}
	store := inv.store()
	if err := store.Write(rec); err != nil {
		return nil, &ioError{err}
	}
	phases.mark("record")
	runner := p.runner(inv.conf, inv.args)
	results, err := runner.Add(ctx, rec)
	phases.mark("delegates")
	if err == nil {
		err = p.finish(ctx, inv, api, pod, rec, results)
		phases.mark("status")
		if err != nil {
			err = errors.Join(err, runner.Del(ctx, rec))
		}
	}
	if err != nil {
		if rmErr := store.Remove(rec.ContainerID); rmErr != nil {
			inv.log.Error("remove attachment record after failed ADD", "err", rmErr)
		}
		p.event(ctx, inv, api, pod, "Warning", "NetworkAttachFailed", err.Error())
		return nil, err
	}
	for i, d := range rec.Delegates {
		if d.Cluster {
			return results[i], nil
		}
	}
	return nil, fmt.Errorf("no cluster network among the delegates")
}

// finish runs the steps after every delegate succeeded: the default-route
// move, the network-status annotation and the Events.
func (p *Plugin) finish(ctx context.Context, inv *invocation, api API, pod *kube.Pod, rec *delegate.Record, results []types.Result) error {
	defaultIdx := -1
	for i := range rec.Delegates {
		if len(rec.Delegates[i].Gateways) > 0 {
			defaultIdx = i
			if err := delegate.MoveDefaultRoute(rec.NetNS, &rec.Delegates[i]); err != nil {
				return &delegate.Error{Network: rec.Delegates[i].Network, IfName: rec.Delegates[i].IfName, Op: "set default-route of", Err: err}
			}
		}
	}
	if api == nil {
		return nil
	}
	statuses := make([]annotations.NetworkStatus, 0, len(results))
	for i, r := range results {
		d := &rec.Delegates[i]
		res100, err := types100.NewResultFromResult(r)
		if err != nil {
			return fmt.Errorf("convert result of network %s: %w", d.Network, err)
		}
		isDefault := i == defaultIdx || (defaultIdx < 0 && d.Cluster)
		statuses = append(statuses, annotations.StatusFromResult(statusName(d), d.IfName, isDefault, res100))
	}
	value, err := annotations.FormatNetworkStatus(statuses)
	if err != nil {
		return err
	}
	// One Event per ADD, sent while the status patch is in flight: both are
	// round trips on the same HTTP/2 connection, and the runtime waits on them.
	lines := make([]string, 0, len(statuses))
	for _, st := range statuses {
		lines = append(lines, fmt.Sprintf("Add %s [%s] from %s", st.Interface, strings.Join(st.IPs, ","), st.Name))
	}
	eventDone := make(chan struct{})
	go func() {
		defer close(eventDone)
		p.event(ctx, inv, api, pod, "Normal", "AddedInterface", strings.Join(lines, "; "))
	}()
	err = api.SetPodAnnotation(ctx, pod.Namespace, pod.Name, annotations.NetworkStatusKey, value)
	<-eventDone
	if err != nil {
		return &podError{err}
	}
	return nil
}

// statusName is a network's name in network-status: namespace/name for a
// NAD, the conflist name for a file.
func statusName(d *delegate.Delegate) string {
	if strings.HasPrefix(d.Network, "file:") || strings.HasPrefix(d.Network, "delegates[") {
		return d.Name
	}
	return d.Network
}

// event records an Event when there is a pod to attach it to; failing to
// record one only gets logged.
func (p *Plugin) event(ctx context.Context, inv *invocation, api API, pod *kube.Pod, eventType, reason, msg string) {
	if api == nil || pod == nil {
		return
	}
	if err := api.Event(ctx, pod, eventType, reason, msg); err != nil {
		inv.log.Warn("record event", "reason", reason, "err", err)
	}
}

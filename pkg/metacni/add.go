package metacni

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"

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

// add is one transaction: tx records the record it writes and each
// delegate it starts, and the deferred Rollback undoes them unless the ADD
// commits. This is the only place a failed ADD is undone.
func (p *Plugin) add(ctx context.Context, inv *invocation) (_ types.Result, err error) {
	if err := delegate.ValidContainerID(inv.args.ContainerID); err != nil {
		return nil, &argsError{err.Error()}
	}
	phases := newPhaseClock()
	defer func() { inv.log.Debug("ADD timings", phases.attrs()...) }()
	if err := waitReady(ctx, inv.conf); err != nil {
		return nil, err
	}
	rn := p.runner(inv.conf, inv.args)
	tx := delegate.NewAttachment(inv.store(), rn, &delegate.Record{
		ContainerID: inv.args.ContainerID, NetNS: inv.args.Netns, IfName: inv.args.IfName,
		CNIVersion: inv.conf.CNIVersion, PodNamespace: inv.pod.Namespace, PodName: inv.pod.Name,
		PodUID: inv.pod.UID, Args: inv.cniArgs,
	})
	defer func() {
		if rbErr := tx.Rollback(ctx); rbErr != nil {
			inv.log.Error("rollback of failed ADD incomplete; the attachment record stays for DEL", "err", rbErr)
			err = errors.Join(err, rbErr)
		}
	}()
	res := &resolver{conf: inv.conf, confs: &confDir{dir: inv.conf.ConfDir}}
	isPod := inv.pod.Name != ""
	if isPod && !res.clusterFromFile() {
		// A cluster network named by a NAD, or by a name a NAD may take
		// over from a conf, needs the API before it can start.
		if res.api, err = p.api(inv); err != nil {
			return nil, err
		}
	}
	clusterSrc, err := res.confClusterSource(ctx)
	if err != nil {
		if unreadable := (*nadUnreadable)(nil); errors.As(err, &unreadable) && inv.pod.UID != "" {
			// The pod is not read yet, but the runtime named it: Multus
			// tells it that its cluster network cannot be found, too.
			pod := &kube.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: inv.pod.Namespace, Name: inv.pod.Name, UID: k8stypes.UID(inv.pod.UID)}}
			p.event(ctx, inv, res.api, pod, "Warning", "NoNetworkFound", err.Error())
		}
		return nil, err
	}
	phases.mark("setup")

	// The cluster network does not depend on the pod unless the pod
	// overrides it, which is rare: start it now and let it overlap the
	// API round trips; the pod may still drop it.
	var early *delegate.Delegate
	var waitEarly func() (types.Result, error)
	if isPod {
		ds, err := res.build([]*source{{network: clusterSrc.network, defaultName: clusterSrc.defaultName, config: clusterSrc.config, ifName: inv.args.IfName, cluster: true}})
		if err != nil {
			return nil, err
		}
		early = &ds[0]
		if err := tx.Write(ds); err != nil {
			return nil, &ioError{err}
		}
		waitEarly = tx.Start(ctx, *early)
		if res.api == nil {
			if res.api, err = p.api(inv); err != nil {
				return nil, err
			}
		}
	}
	delegates, overridden, resolveErr := p.resolvePod(ctx, inv, res, clusterSrc)
	phases.mark("resolve")
	var done []types.Result
	if early != nil {
		clusterRes, clusterErr := waitEarly()
		phases.mark("cluster")
		switch {
		case clusterErr != nil:
			p.event(ctx, inv, res.api, res.pod, "Warning", "NetworkAttachFailed", clusterErr.Error())
			return nil, errors.Join(clusterErr, resolveErr)
		case resolveErr != nil:
			return nil, resolveErr
		case overridden:
			if err := tx.Drop(ctx, *early); err != nil {
				return nil, err
			}
		default:
			delegates[0] = *early
			done = []types.Result{clusterRes}
		}
	} else if resolveErr != nil {
		return nil, resolveErr
	}

	for k := len(done); k < len(delegates); k++ {
		if err := rn.Installed(&delegates[k]); err != nil {
			p.event(ctx, inv, res.api, res.pod, "Warning", "NetworkResolutionFailed", err.Error())
			return nil, err
		}
	}
	if res.pod != nil && tx.Record().PodUID == "" {
		tx.Record().PodUID = string(res.pod.UID)
	}
	if err := tx.Write(delegates); err != nil {
		return nil, &ioError{err}
	}
	rec := &delegate.Record{}
	*rec = *tx.Record()
	rec.Delegates = delegates
	results := append([]types.Result{}, done...)
	for k := len(done); k < len(delegates); k++ {
		r, err := tx.Add(ctx, delegates[k])
		if err != nil {
			p.event(ctx, inv, res.api, res.pod, "Warning", "NetworkAttachFailed", err.Error())
			return nil, err
		}
		results = append(results, r)
	}
	phases.mark("delegates")
	err = p.finish(ctx, inv, res.api, res.pod, rec, results)
	phases.mark("status")
	if err != nil {
		p.event(ctx, inv, res.api, res.pod, "Warning", "NetworkAttachFailed", err.Error())
		return nil, err
	}
	tx.Commit()
	for i, d := range delegates {
		if d.Cluster {
			return results[i], nil
		}
	}
	return nil, fmt.Errorf("no cluster network among the delegates")
}

// resolvePod GETs the pod and resolves all its delegates. overridden says
// the pod replaced the cluster network with default-network.
func (p *Plugin) resolvePod(ctx context.Context, inv *invocation, res *resolver, clusterSrc *source) ([]delegate.Delegate, bool, error) {
	if res.api != nil {
		pod, err := res.api.GetPod(ctx, inv.pod.Namespace, inv.pod.Name, inv.pod.UID)
		if err != nil {
			return nil, false, &podError{err}
		}
		res.pod = pod
	}
	override, err := res.overrideSource(ctx)
	if err == nil {
		cluster := clusterSrc
		if override != nil {
			cluster = override
		}
		var delegates []delegate.Delegate
		if delegates, err = res.resolveWith(ctx, cluster, inv.args.IfName); err == nil {
			return delegates, cluster != clusterSrc, nil
		}
	}
	reason := "NetworkResolutionFailed"
	if unreadable := (*nadUnreadable)(nil); errors.As(err, &unreadable) {
		reason = "NoNetworkFound"
	}
	p.event(ctx, inv, res.api, res.pod, "Warning", reason, err.Error())
	return nil, false, err
}

// finish runs the steps after every delegate succeeded: the default-route
// move, the network-status annotation and the Events.
func (p *Plugin) finish(ctx context.Context, inv *invocation, api API, pod *kube.Pod, rec *delegate.Record, results []types.Result) error {
	for i := range rec.Delegates {
		if len(rec.Delegates[i].Gateways) > 0 {
			if err := delegate.MoveDefaultRoute(rec.NetNS, &rec.Delegates[i]); err != nil {
				return &delegate.Error{Network: rec.Delegates[i].Network, IfName: rec.Delegates[i].IfName, Op: "set default-route of", Err: err}
			}
		}
	}
	if api == nil {
		return nil
	}
	// As in Multus, the cluster network is the default one even when a
	// default-route request moved the route elsewhere, and each entry is
	// built from the delegate's own result, before that move.
	// The Event has a line per delegate that reported an interface or an
	// IP, the delegates Multus sends AddedInterface for.
	statuses := make([]annotations.NetworkStatus, 0, len(results))
	lines := make([]string, 0, len(results))
	for i, r := range results {
		d := &rec.Delegates[i]
		res100, err := types100.NewResultFromResult(r)
		if err != nil {
			return fmt.Errorf("convert result of network %s: %w", d.Network, err)
		}
		statuses = append(statuses, annotations.StatusesFromResult(statusName(d), d.Cluster, res100)...)
		if len(res100.Interfaces) > 0 || len(res100.IPs) > 0 {
			lines = append(lines, fmt.Sprintf("Add %s [%s] from %s", d.IfName, strings.Join(addresses(res100), ","), statusName(d)))
		}
	}
	value, err := annotations.FormatNetworkStatus(statuses)
	if err != nil {
		return err
	}
	// One Event per ADD, sent while the status patch is in flight: both are
	// round trips on the same HTTP/2 connection, and the runtime waits on them.
	// Should the patch then fail, the pod also gets NetworkAttachFailed, which
	// says the interfaces were removed again.
	eventDone := make(chan struct{})
	go func() {
		defer close(eventDone)
		if len(lines) > 0 {
			p.event(ctx, inv, api, pod, "Normal", "AddedInterface", strings.Join(lines, "; "))
		}
	}()
	err = api.SetPodAnnotation(ctx, pod, annotations.NetworkStatusKey, value)
	<-eventDone
	if err != nil {
		return &podError{err}
	}
	return nil
}

// addresses lists a result's IPs, as the AddedInterface Event shows them.
func addresses(res *types100.Result) []string {
	out := make([]string, 0, len(res.IPs))
	for _, ip := range res.IPs {
		if ip != nil && ip.Address.IP != nil {
			out = append(out, ip.Address.IP.String())
		}
	}
	return out
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

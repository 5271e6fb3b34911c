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
	rec := &delegate.Record{
		ContainerID: inv.args.ContainerID, NetNS: inv.args.Netns, IfName: inv.args.IfName,
		CNIVersion: inv.conf.CNIVersion, PodNamespace: inv.pod.Namespace, PodName: inv.pod.Name,
		PodUID: inv.pod.UID, Args: inv.cniArgs,
	}
	store, runner := inv.store(), p.runner(inv.conf, inv.args)
	res := &resolver{conf: inv.conf, confs: &confDir{dir: inv.conf.ConfDir}}
	isPod := inv.pod.Name != ""
	var clusterSrc *source
	var err error
	if isPod && !res.clusterFromFile() {
		// A NAD-named cluster network needs the API before it can start.
		if res.api, err = p.api(inv); err != nil {
			return nil, err
		}
	}
	if clusterSrc, err = res.confClusterSource(ctx); err != nil {
		return nil, err
	}
	phases.mark("setup")

	// The cluster network does not depend on the pod unless the pod
	// overrides it, which is rare: start it now and let it overlap the
	// API round trips, and undo it if the pod turns out to need otherwise.
	var early *earlyCluster
	if isPod {
		if early, err = startCluster(ctx, res, clusterSrc, rec, store, runner); err != nil {
			return nil, err
		}
		if res.api == nil {
			if res.api, err = p.api(inv); err != nil {
				_, _ = early.wait()
				rbErr := runner.Del(ctx, early.rec)
				p.removeRecord(inv, store, rec)
				return nil, errors.Join(err, rbErr)
			}
		}
	}
	delegates, overridden, err := p.resolvePod(ctx, inv, res, clusterSrc)
	phases.mark("resolve")
	var done []types.Result
	if early != nil {
		clusterRes, clusterErr := early.wait()
		phases.mark("cluster")
		switch {
		case clusterErr != nil:
			// The runner already rolled the cluster delegate back.
			p.removeRecord(inv, store, rec)
			p.event(ctx, inv, res.api, res.pod, "Warning", "NetworkAttachFailed", clusterErr.Error())
			return nil, errors.Join(clusterErr, err)
		case err != nil || overridden:
			if rbErr := runner.Del(ctx, early.rec); rbErr != nil || err != nil {
				p.removeRecord(inv, store, rec)
				return nil, errors.Join(err, rbErr)
			}
		default:
			delegates[0] = early.rec.Delegates[0]
			done = []types.Result{clusterRes}
		}
	} else if err != nil {
		return nil, err
	}

	rec.Delegates = delegates
	if res.pod != nil && rec.PodUID == "" {
		rec.PodUID = string(res.pod.UID)
	}
	if err := store.Write(rec); err != nil {
		var rbErr error
		if len(done) > 0 {
			rbErr = runner.Del(ctx, early.rec)
		}
		p.removeRecord(inv, store, rec)
		return nil, errors.Join(&ioError{err}, rbErr)
	}
	results, err := runner.AddFrom(ctx, rec, done)
	phases.mark("delegates")
	if err == nil {
		err = p.finish(ctx, inv, res.api, res.pod, rec, results)
		phases.mark("status")
		if err != nil {
			err = errors.Join(err, runner.Del(ctx, rec))
		}
	}
	if err != nil {
		p.removeRecord(inv, store, rec)
		p.event(ctx, inv, res.api, res.pod, "Warning", "NetworkAttachFailed", err.Error())
		return nil, err
	}
	for i, d := range rec.Delegates {
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
			return delegates, override != nil, nil
		}
	}
	p.event(ctx, inv, res.api, res.pod, "Warning", "NetworkResolutionFailed", err.Error())
	return nil, false, err
}

// earlyCluster is the cluster network's ADD running in the background.
type earlyCluster struct {
	rec  *delegate.Record
	done chan struct{}
	res  types.Result
	err  error
}

// startCluster writes a record holding only the cluster network, so a
// crash leaves DEL something exact to undo, then starts its ADD.
func startCluster(ctx context.Context, res *resolver, src *source, base *delegate.Record, store delegate.RecordStore, runner *delegate.Runner) (*earlyCluster, error) {
	ds, err := res.build([]*source{{network: src.network, defaultName: src.defaultName, config: src.config, ifName: base.IfName, cluster: true}})
	if err != nil {
		return nil, err
	}
	rec := *base
	rec.Delegates = ds
	if err := store.Write(&rec); err != nil {
		return nil, &ioError{err}
	}
	e := &earlyCluster{rec: &rec, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		results, err := runner.Add(ctx, e.rec)
		if err != nil {
			e.err = err
			return
		}
		e.res = results[0]
	}()
	return e, nil
}

func (e *earlyCluster) wait() (types.Result, error) {
	<-e.done
	return e.res, e.err
}

func (p *Plugin) removeRecord(inv *invocation, store delegate.RecordStore, rec *delegate.Record) {
	if err := store.Remove(rec.ContainerID); err != nil {
		inv.log.Error("remove attachment record after failed ADD", "err", err)
	}
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
	// Should the patch then fail, the pod also gets NetworkAttachFailed, which
	// says the interfaces were removed again.
	lines := make([]string, 0, len(statuses))
	for _, st := range statuses {
		lines = append(lines, fmt.Sprintf("Add %s [%s] from %s", st.Interface, strings.Join(st.IPs, ","), st.Name))
	}
	eventDone := make(chan struct{})
	go func() {
		defer close(eventDone)
		p.event(ctx, inv, api, pod, "Normal", "AddedInterface", strings.Join(lines, "; "))
	}()
	err = api.SetPodAnnotation(ctx, pod, annotations.NetworkStatusKey, value)
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

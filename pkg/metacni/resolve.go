package metacni

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/meta-cni/meta-cni/pkg/annotations"
	"github.com/meta-cni/meta-cni/pkg/config"
	"github.com/meta-cni/meta-cni/pkg/delegate"
	"github.com/meta-cni/meta-cni/pkg/kube"
)

// NetworkError is a problem with one network a pod uses: a missing or
// broken NetworkAttachmentDefinition, an isolation violation, an interface
// clash. It is an invalid-config error (code 7).
type NetworkError struct {
	Network string
	Field   string
	Reason  string
	Err     error
}

func (e *NetworkError) Error() string {
	msg := "network " + e.Network
	if e.Field != "" {
		msg += fmt.Sprintf(" field %q", e.Field)
	}
	msg += ": " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *NetworkError) Unwrap() error { return e.Err }

// nadUnreadable wraps a failed GET of a NetworkAttachmentDefinition, for
// whatever reason: Multus tells the pod with a NoNetworkFound Event, and so
// does meta-cni. The error inside decides the CNI code.
type nadUnreadable struct{ err error }

func (e *nadUnreadable) Error() string { return e.err.Error() }
func (e *nadUnreadable) Unwrap() error { return e.err }

// source is one network before its delegate is built: where its config
// comes from and what the pod asked of it.
type source struct {
	network     string // "ns/name" or "file:<path>"
	defaultName string // the conflist name when the config has none
	config      []byte
	ifName      string
	req         delegate.Request
	cluster     bool
}

// resolver turns a NetConf and a pod into the pod's delegates.
type resolver struct {
	conf  *config.NetConf
	api   API       // nil when the caller is not a Kubernetes runtime
	pod   *kube.Pod // nil when the caller is not a Kubernetes runtime
	confs *confDir
}

// resolve returns the delegates of a pod in attach order: the cluster
// network on ifName, then defaultNetworks, then the annotation's selections.
func (r *resolver) resolve(ctx context.Context, ifName string) ([]delegate.Delegate, error) {
	cluster, err := r.overrideSource(ctx)
	if err != nil {
		return nil, err
	}
	if cluster == nil {
		if cluster, err = r.confClusterSource(ctx); err != nil {
			return nil, err
		}
	}
	return r.resolveWith(ctx, cluster, ifName)
}

// resolveWith is resolve with the cluster network's source already known.
func (r *resolver) resolveWith(ctx context.Context, cluster *source, ifName string) ([]delegate.Delegate, error) {
	cluster.ifName = ifName
	cluster.cluster = true
	extra := r.inlineSources()
	if r.pod != nil {
		more, err := r.podSources(ctx)
		if err != nil {
			return nil, err
		}
		extra = append(extra, more...)
	}
	// Unnamed interfaces are net1..netN by position, as in Multus.
	for i, s := range extra {
		if s.ifName == "" {
			s.ifName = fmt.Sprintf("net%d", i+1)
		}
	}
	return r.build(append([]*source{cluster}, extra...))
}

// inlineSources are the entries of Multus's inline delegates after the
// first, which every container gets, as in Multus.
func (r *resolver) inlineSources() []*source {
	if r.conf.ClusterNetwork != "" || len(r.conf.Delegates) < 2 {
		return nil
	}
	var out []*source
	for i, config := range r.conf.Delegates[1:] {
		out = append(out, &source{network: fmt.Sprintf("delegates[%d]", i+1), defaultName: fmt.Sprintf("delegate-%d", i+1), config: config})
	}
	return out
}

// build turns sources into delegates, rejecting interface clashes and a
// second default-route request.
func (r *resolver) build(sources []*source) ([]delegate.Delegate, error) {
	seen := map[string]string{}
	defaultRoutes := 0
	var delegates []delegate.Delegate
	for _, s := range sources {
		if prev, ok := seen[s.ifName]; ok {
			return nil, &NetworkError{Network: s.network, Field: "interface", Reason: fmt.Sprintf("interface %q is already used by network %s", s.ifName, prev)}
		}
		seen[s.ifName] = s.network
		if len(s.req.Gateways) > 0 {
			defaultRoutes++
			if defaultRoutes > 1 {
				return nil, &NetworkError{Network: s.network, Field: "default-route", Reason: "only one network of a pod may set default-route"}
			}
		}
		req := s.req
		req.RuntimeConfig = r.conf.RuntimeConfig
		d, err := delegate.Build(s.network, s.defaultName, s.ifName, s.config, r.conf.CNIVersion, req)
		if err != nil {
			return nil, err
		}
		d.Cluster = s.cluster
		delegates = append(delegates, *d)
	}
	return delegates, nil
}

func (r *resolver) systemNamespace() bool {
	for _, ns := range r.conf.SystemNamespaces {
		if ns == r.pod.Namespace {
			return true
		}
	}
	return false
}

// overrideSource is the pod's default-network override, or nil when it has
// none. A pod in a system namespace may override too, as in Multus. A name
// without a namespace is a NAD in multusNamespace, as in Multus
// (k8sclient.tryLoadK8sPodDefaultNetwork), not in the pod's namespace.
func (r *resolver) overrideSource(ctx context.Context) (*source, error) {
	if r.pod == nil {
		return nil, nil
	}
	v, ok := r.pod.Annotations[annotations.DefaultNetworkKey]
	if !ok || strings.TrimSpace(v) == "" {
		return nil, nil
	}
	ns, name, err := annotations.ParseDefaultNetwork(v, r.conf.NetworkNamespace)
	if err != nil || name == "" {
		return nil, err
	}
	// Multus does not apply namespaceIsolation to default-network at all;
	// meta-cni still keeps a pod out of other namespaces' NADs, but allows
	// multusNamespace, where Multus says default networks belong.
	if ns != r.conf.NetworkNamespace {
		if err := r.checkIsolation(ns, name, annotations.DefaultNetworkKey); err != nil {
			return nil, err
		}
	}
	return r.nadSource(ctx, ns, name)
}

// confClusterSource is the NetConf's cluster network.
func (r *resolver) confClusterSource(ctx context.Context) (*source, error) {
	if r.conf.ClusterNetwork == "" {
		return &source{network: "delegates[0]", defaultName: "cluster", config: r.conf.Delegates[0]}, nil
	}
	s, err := r.namedSource(ctx, r.conf.ClusterNetwork)
	var ne *NetworkError
	if errors.As(err, &ne) && apierrors.IsNotFound(ne.Err) {
		// Not the pod's doing: say which field of whose conf to fix.
		ne.Field = "clusterNetwork"
		ne.Reason = fmt.Sprintf("meta-cni's clusterNetwork %q is neither a NetworkAttachmentDefinition in %s nor a conf in %s; create one or fix clusterNetwork in meta-cni's conf",
			r.conf.ClusterNetwork, r.conf.NetworkNamespace, r.conf.ConfDir)
		if strings.Contains(r.conf.ClusterNetwork, "/") {
			ne.Reason = fmt.Sprintf("meta-cni's clusterNetwork names NetworkAttachmentDefinition %s, which does not exist; create it or fix clusterNetwork in meta-cni's conf", ne.Network)
		}
	}
	return s, err
}

// clusterFromFile reports whether the NetConf's cluster network is read
// from a file (inline or a path) without asking the API first. A bare name
// may be a conf in confDir, but a NAD of that name wins, so the API decides.
func (r *resolver) clusterFromFile() bool {
	ref := r.conf.ClusterNetwork
	return ref == "" || filepath.IsAbs(ref)
}

// podSources are defaultNetworks then the networks annotation. A pod in a
// system namespace skips defaultNetworks only, as in Multus: its own
// annotation still counts. Multus reads defaultNetworks only along with
// clusterNetwork, so the inline form skips them too.
func (r *resolver) podSources(ctx context.Context) ([]*source, error) {
	var out []*source
	if !r.systemNamespace() && r.conf.ClusterNetwork != "" {
		for _, ref := range r.conf.DefaultNetworks {
			s, err := r.namedSource(ctx, ref)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	}
	selections, err := annotations.ParseNetworks(r.pod.Annotations[annotations.NetworksKey], r.pod.Namespace)
	if err != nil {
		return nil, err
	}
	for _, sel := range selections {
		if err := r.checkIsolation(sel.Namespace, sel.Name, annotations.NetworksKey); err != nil {
			return nil, err
		}
	}
	fetched, err := r.fetchAll(ctx, selections)
	if err != nil {
		return nil, err
	}
	for i, sel := range selections {
		s := fetched[i]
		s.ifName = sel.Interface
		s.req = delegate.Request{IPs: sel.IPs, MAC: sel.MAC, CNIArgs: sel.CNIArgs, Gateways: sel.DefaultRoute}
		if len(sel.PortMappings) > 0 {
			s.req.PortMappings = sel.PortMappings
		}
		if sel.Bandwidth != nil {
			s.req.Bandwidth = sel.Bandwidth
		}
		out = append(out, s)
	}
	return out, nil
}

// fetchAll GETs the selections' NADs at once: on a pod with several
// networks the round trips overlap instead of adding up.
func (r *resolver) fetchAll(ctx context.Context, selections []annotations.NetworkSelection) ([]*source, error) {
	out := make([]*source, len(selections))
	errs := make([]error, len(selections))
	var wg sync.WaitGroup
	for i := range selections {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			out[i], errs[i] = r.nadSource(ctx, selections[i].Namespace, selections[i].Name)
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (r *resolver) checkIsolation(ns, name, annotation string) error {
	if !r.conf.NamespaceIsolation || ns == r.pod.Namespace {
		return nil
	}
	for _, g := range r.conf.GlobalNamespaces {
		if g == ns {
			return nil
		}
	}
	return &NetworkError{Network: ns + "/" + name, Field: "namespace", Reason: fmt.Sprintf(
		"namespaceIsolation forbids pods in namespace %s from using networks in namespace %s (annotation %s); create the NetworkAttachmentDefinition in %s or add %s to globalNamespaces",
		r.pod.Namespace, ns, annotation, r.pod.Namespace, ns)}
}

// namedSource resolves a NetConf reference: an absolute file path, the name
// of a conf in confDir, or a NAD as [namespace/]name in the network
// namespace.
func (r *resolver) namedSource(ctx context.Context, ref string) (*source, error) {
	if filepath.IsAbs(ref) {
		if info, err := os.Stat(ref); err == nil && info.IsDir() {
			return dirSource(ref)
		}
		data, err := os.ReadFile(ref)
		if err != nil {
			return nil, &NetworkError{Network: "file:" + ref, Reason: "cannot read the network config file", Err: err}
		}
		return &source{network: "file:" + ref, defaultName: strings.TrimSuffix(filepath.Base(ref), filepath.Ext(ref)), config: data}, nil
	}
	if !strings.Contains(ref, "/") {
		// Multus (k8sclient.getNetDelegate) asks for a NAD in
		// multusNamespace first and takes the conf of that name in confDir
		// when the NAD cannot be had, for whatever reason, or when there is
		// no API to ask.
		f, isConf := r.confs.lookup(ref)
		if r.api == nil && isConf {
			return &source{network: "file:" + f.path, defaultName: ref, config: f.data}, nil
		}
		s, err := r.nadSource(ctx, r.conf.NetworkNamespace, ref)
		if err != nil && isConf {
			return &source{network: "file:" + f.path, defaultName: ref, config: f.data}, nil
		}
		return s, err
	}
	ns, name := r.conf.NetworkNamespace, ref
	if i := strings.Index(ref, "/"); i >= 0 {
		ns, name = ref[:i], ref[i+1:]
	}
	return r.nadSource(ctx, ns, name)
}

// nadSource GETs a NetworkAttachmentDefinition. An empty spec.config means
// the conf of the same name in confDir.
func (r *resolver) nadSource(ctx context.Context, ns, name string) (*source, error) {
	network := ns + "/" + name
	if r.api == nil {
		return nil, &NetworkError{Network: network, Reason: "is a NetworkAttachmentDefinition, but the caller gave no K8S_POD_NAME, so there is no Kubernetes API to read it from; name a conf in confDir or a file instead"}
	}
	nad, err := r.api.GetNetworkAttachmentDefinition(ctx, ns, name)
	if apierrors.IsNotFound(err) {
		return nil, &nadUnreadable{&NetworkError{Network: network, Reason: "NetworkAttachmentDefinition not found; create it or fix the pod's annotation", Err: err}}
	}
	if err != nil {
		return nil, &nadUnreadable{err}
	}
	return r.sourceFromNAD(network, nad)
}

func (r *resolver) sourceFromNAD(network string, nad *nadv1.NetworkAttachmentDefinition) (*source, error) {
	if strings.TrimSpace(nad.Spec.Config) != "" {
		return &source{network: network, defaultName: nad.Name, config: []byte(nad.Spec.Config)}, nil
	}
	if f, ok := r.confs.lookup(nad.Name); ok {
		return &source{network: network, defaultName: nad.Name, config: f.data}, nil
	}
	return nil, &NetworkError{Network: network, Field: "spec.config", Reason: fmt.Sprintf("is empty and confDir %s has no conf named %q", r.conf.ConfDir, nad.Name)}
}

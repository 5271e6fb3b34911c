// Package metacni is the meta-plugin: it reads the pod, resolves its
// networks into delegates, runs them, and reports what they did. Each CNI
// verb is one method of Plugin.
package metacni

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meta-cni/meta-cni/pkg/config"
	"github.com/meta-cni/meta-cni/pkg/delegate"
	"github.com/meta-cni/meta-cni/pkg/kube"
	"github.com/meta-cni/meta-cni/pkg/node"
	"github.com/meta-cni/meta-cni/pkg/pluginlog"
)

// API is the Kubernetes API as meta-cni uses it.
type API interface {
	GetPod(ctx context.Context, namespace, name, uid string) (*kube.Pod, error)
	GetNetworkAttachmentDefinition(ctx context.Context, namespace, name string) (*nadv1.NetworkAttachmentDefinition, error)
	SetPodAnnotation(ctx context.Context, pod *kube.Pod, key, value string) error
	Event(ctx context.Context, pod *kube.Pod, eventType, reason, message string) error
}

// Plugin holds what the verbs need from outside; the zero value is wired
// to the real Kubernetes API and libcni.
type Plugin struct {
	// NewAPI builds the Kubernetes client; nil means kube.New.
	NewAPI func(conf *config.NetConf) (API, error)
	// NewRunner builds the delegate runner; nil means delegate.NewRunner.
	NewRunner func(binDirs []string, cacheDir string) *delegate.Runner

	// reportTo is the daemon socket the last verb's NetConf named.
	reportTo string
}

// invocation is one verb's parsed input.
type invocation struct {
	args    *skel.CmdArgs
	conf    *config.NetConf
	cniArgs [][2]string
	pod     podRef
	log     *slog.Logger
	closer  func()
}

type podRef struct {
	Namespace, Name, UID string
}

func (p podRef) String() string {
	if p.Name == "" {
		return "container"
	}
	return "pod " + p.Namespace + "/" + p.Name
}

func (p *Plugin) begin(args *skel.CmdArgs) (*invocation, error) {
	conf, err := config.Parse(args.StdinData)
	if err != nil {
		p.reportTo = daemonSocketOf(args.StdinData)
		return nil, err
	}
	p.reportTo = conf.DaemonSocket
	pairs, pod, err := parseCNIArgs(args.Args)
	if err != nil {
		return nil, err
	}
	log, closer := pluginlog.New("meta-cni", conf.Log())
	log = log.With("containerID", args.ContainerID)
	if pod.Name != "" {
		log = log.With("pod", pod.Namespace+"/"+pod.Name)
	}
	return &invocation{args: args, conf: conf, cniArgs: pairs, pod: pod, log: log, closer: closer}, nil
}

// api returns the Kubernetes API: through meta-cni-daemon when the NetConf
// names its socket, else straight to the API server with the kubeconfig.
func (p *Plugin) api(inv *invocation) (API, error) {
	direct := func() (API, error) {
		if p.NewAPI != nil {
			return p.NewAPI(inv.conf)
		}
		c, err := kube.New(inv.conf.Kubeconfig, inv.conf.APITimeout)
		if err != nil {
			return nil, &config.FieldError{Field: "kubeconfig", Reason: err.Error()}
		}
		return c, nil
	}
	if inv.conf.DaemonSocket == "" {
		return direct()
	}
	return &daemonAPI{daemon: kube.NewDaemon(inv.conf.DaemonSocket, inv.conf.APITimeout), socket: inv.conf.DaemonSocket, direct: direct, log: inv.log}, nil
}

func (p *Plugin) runner(conf *config.NetConf, args *skel.CmdArgs) *delegate.Runner {
	dirs := searchPath(conf.BinDir, args.Path)
	if p.NewRunner != nil {
		return p.NewRunner(dirs, conf.CacheDir)
	}
	return delegate.NewRunner(dirs, conf.CacheDir, delegateEnv(conf)...)
}

// delegateEnv hands the node name to the delegates through the
// environment rather than into their configs: it reaches etcd-ipam
// wherever it sits (as macvlan's or bridge's IPAM, or deeper), on every
// verb, including DEL and GC of records an older meta-cni wrote, and
// without meta-cni parsing other plugins' configs. An etcd-ipam config
// that names its own nodeName still wins.
func delegateEnv(conf *config.NetConf) []string {
	if conf.NodeName == "" {
		return nil
	}
	return []string{node.EnvNames[0] + "=" + conf.NodeName}
}

func (inv *invocation) store() delegate.RecordStore {
	return delegate.RecordStore{Dir: inv.conf.CacheDir + "/attachments"}
}

// parseCNIArgs splits CNI_ARGS into pairs and picks out the pod's identity.
func parseCNIArgs(s string) ([][2]string, podRef, error) {
	var pairs [][2]string
	var pod podRef
	if s == "" {
		return nil, pod, nil
	}
	for _, kv := range strings.Split(s, ";") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, podRef{}, &argsError{fmt.Sprintf("CNI_ARGS entry %q is not KEY=VALUE", kv)}
		}
		pairs = append(pairs, [2]string{k, v})
		switch k {
		case "K8S_POD_NAMESPACE":
			pod.Namespace = v
		case "K8S_POD_NAME":
			pod.Name = v
		case "K8S_POD_UID":
			pod.UID = v
		}
	}
	if pod.Name != "" && pod.Namespace == "" {
		return nil, podRef{}, &argsError{"CNI_ARGS has K8S_POD_NAME but no K8S_POD_NAMESPACE"}
	}
	// Both go into API paths, where "/", ".." or "?" would name another
	// object or add a query; the API server allows neither in them.
	if pod.Name != "" {
		if errs := validation.IsDNS1123Label(pod.Namespace); len(errs) > 0 {
			return nil, podRef{}, &argsError{fmt.Sprintf("CNI_ARGS K8S_POD_NAMESPACE %q: %s", pod.Namespace, strings.Join(errs, "; "))}
		}
		if errs := validation.IsDNS1123Subdomain(pod.Name); len(errs) > 0 {
			return nil, podRef{}, &argsError{fmt.Sprintf("CNI_ARGS K8S_POD_NAME %q: %s", pod.Name, strings.Join(errs, "; "))}
		}
	}
	return pairs, pod, nil
}

type argsError struct{ msg string }

func (e *argsError) Error() string { return e.msg }

// waitReady waits for the readiness indicator file, if one is configured.
func waitReady(ctx context.Context, conf *config.NetConf) error {
	if conf.ReadinessIndicatorFile == "" {
		return nil
	}
	deadline := time.Now().Add(conf.ReadinessTimeout)
	for {
		if _, err := os.Stat(conf.ReadinessIndicatorFile); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return &notReadyError{file: conf.ReadinessIndicatorFile, waited: conf.ReadinessTimeout}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

type notReadyError struct {
	file   string
	waited time.Duration
}

func (e *notReadyError) Error() string {
	return fmt.Sprintf("readiness indicator file %s does not exist after %s: the cluster network is not ready", e.file, e.waited)
}

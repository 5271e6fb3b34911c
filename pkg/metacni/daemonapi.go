package metacni

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/meta-cni/meta-cni/pkg/kube"
)

// daemonAPI sends every call through meta-cni-daemon's node API and, once
// the daemon's socket refuses a connection, through the plugin's own
// kubeconfig instead. A refused connection means the request never left,
// so sending it again directly cannot apply it twice. A daemon that
// accepted the request and then failed is an answer, not a reason to fall
// back: its error is returned as the API server's would be.
type daemonAPI struct {
	daemon API
	socket string // the daemon's, for errors
	direct func() (API, error)
	log    *slog.Logger

	down       atomic.Bool
	directOnce sync.Once
	directAPI  API
	directErr  error
}

// call runs fn against the daemon, or against the direct client when the
// daemon is not there.
func (a *daemonAPI) call(fn func(API) error) error {
	if !a.down.Load() {
		err := fn(a.daemon)
		if !kube.IsDaemonUnavailable(err) {
			return err
		}
		if !a.down.Swap(true) {
			a.log.Warn("meta-cni-daemon's node API is unavailable; calling the API server with the kubeconfig", "err", err)
		}
	}
	a.directOnce.Do(func() { a.directAPI, a.directErr = a.direct() })
	if a.directErr != nil {
		return a.directErr
	}
	err := fn(a.directAPI)
	// The kubeconfig's token is the daemon pod's own, copied to the host:
	// it stops working once that pod is deleted, so while a daemon is
	// replaced the fallback is refused. The new daemon copies its token,
	// so this is an error to try again, and it names the daemon. After
	// helm uninstall the token may outlive the chart's RBAC for a moment
	// (403): the daemon is still what is missing, not a ClusterRole.
	if apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err) || kube.IsUnreachable(err) {
		return &daemonDownError{socket: a.socket, err: err}
	}
	return err
}

// daemonDownError means meta-cni-daemon did not take a call and the
// plugin's own kubeconfig could not stand in for it either.
type daemonDownError struct {
	socket string
	err    error
}

func (e *daemonDownError) Error() string {
	return fmt.Sprintf("meta-cni-daemon's node API at %s is unavailable, and the API server refused or did not answer the kubeconfig fallback: %v", e.socket, e.err)
}

func (e *daemonDownError) Unwrap() error { return e.err }

func (a *daemonAPI) GetPod(ctx context.Context, namespace, name, uid string) (pod *kube.Pod, err error) {
	err = a.call(func(api API) (err error) {
		pod, err = api.GetPod(ctx, namespace, name, uid)
		return err
	})
	return pod, err
}

func (a *daemonAPI) GetNetworkAttachmentDefinition(ctx context.Context, namespace, name string) (nad *nadv1.NetworkAttachmentDefinition, err error) {
	err = a.call(func(api API) (err error) {
		nad, err = api.GetNetworkAttachmentDefinition(ctx, namespace, name)
		return err
	})
	return nad, err
}

func (a *daemonAPI) SetPodAnnotation(ctx context.Context, pod *kube.Pod, key, value string) error {
	return a.call(func(api API) error { return api.SetPodAnnotation(ctx, pod, key, value) })
}

func (a *daemonAPI) Event(ctx context.Context, pod *kube.Pod, eventType, reason, message string) error {
	return a.call(func(api API) error { return api.Event(ctx, pod, eventType, reason, message) })
}

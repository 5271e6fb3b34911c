package metacni

import (
	"errors"
	"fmt"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/meta-cni/meta-cni/pkg/annotations"
	"github.com/meta-cni/meta-cni/pkg/config"
	"github.com/meta-cni/meta-cni/pkg/delegate"
	"github.com/meta-cni/meta-cni/pkg/kube"
)

// meta-cni's own error codes; the README lists them.
const (
	// CodeForbidden: the API server refused meta-cni's ServiceAccount.
	CodeForbidden uint = 120
	// CodeDelegateFailed: a delegate failed without a CNI error code.
	CodeDelegateFailed uint = 121
)

// podError wraps a failed API call about the pod itself, as opposed to a
// NetworkAttachmentDefinition.
type podError struct{ err error }

func (e *podError) Error() string { return e.err.Error() }
func (e *podError) Unwrap() error { return e.err }

// ioError is a failure to read or write the attachment cache.
type ioError struct{ err error }

func (e *ioError) Error() string { return e.err.Error() }
func (e *ioError) Unwrap() error { return e.err }

// cniError turns any error into a CNI error with the spec's code and a
// message that starts with the pod it concerns.
func cniError(pod podRef, err error) *types.Error {
	code, hint := classify(err)
	msg := pod.String() + ": " + err.Error()
	if pod.Name == "" {
		msg = err.Error()
	}
	return &types.Error{Code: code, Msg: msg, Details: hint}
}

func classify(err error) (uint, string) {
	var (
		fieldErr   *config.FieldError
		annErr     *annotations.Error
		buildErr   *delegate.BuildError
		netErr     *NetworkError
		argsErr    *argsError
		uidErr     *kube.UIDMismatchError
		podErr     *podError
		ioErr      *ioError
		notReady   *notReadyError
		unknownErr *unknownContainerError
		delErr     *delegate.Error
		cniErr     *types.Error
		downErr    *daemonDownError
		missing    *delegate.NotInstalledError
	)
	switch {
	case errors.As(err, &missing):
		return types.ErrInvalidNetworkConfig, "install the plugin in the node's CNI bin dir, or fix the network's config"
	case errors.As(err, &downErr):
		return types.ErrTryAgainLater, "meta-cni-daemon is restarting, being upgraded or was uninstalled (the token it keeps for the kubeconfig stops working when its pod is deleted); the runtime retries once it serves again"
	case errors.As(err, &fieldErr), errors.As(err, &annErr), errors.As(err, &buildErr), errors.As(err, &netErr):
		return types.ErrInvalidNetworkConfig, "fix the named field"
	case errors.As(err, &argsErr):
		return types.ErrInvalidEnvironmentVariables, "the runtime passed malformed CNI environment"
	case errors.As(err, &uidErr), errors.As(err, &unknownErr):
		return types.ErrUnknownContainer, ""
	case errors.As(err, &notReady):
		return types.ErrTryAgainLater, "the cluster network's readiness indicator file is missing"
	case kube.IsUnreachable(err):
		return types.ErrTryAgainLater, "the Kubernetes API server did not answer in time"
	case apierrors.IsForbidden(err):
		return CodeForbidden, "meta-cni's ServiceAccount lacks a permission; apply the chart's ClusterRole (get pods, patch pods/status, get and list network-attachment-definitions, create events)"
	case errors.As(err, &podErr) && apierrors.IsNotFound(err):
		return types.ErrUnknownContainer, "the pod no longer exists"
	case errors.As(err, &podErr) && replacedPod(err):
		return types.ErrUnknownContainer, "the pod was replaced by another of the same name"
	case errors.As(err, &ioErr):
		return types.ErrIOFailure, ""
	// Code 0 is no code: libcni gives it to a plugin that died without
	// writing an error, such as one killed by a signal.
	case errors.As(err, &delErr) && errors.As(err, &cniErr) && cniErr.Code != 0:
		return cniErr.Code, fmt.Sprintf("reported by the delegate of network %s", delErr.Network)
	case errors.As(err, &delErr):
		return CodeDelegateFailed, fmt.Sprintf("the delegate of network %s failed", delErr.Network)
	case errors.As(err, &cniErr) && cniErr.Code != 0:
		return cniErr.Code, cniErr.Details
	}
	return types.ErrInternal, ""
}

// replacedPod reports whether the API server refused the network-status
// patch because the pod now has another UID: the patch carries the UID of
// the pod that was read, and a pod's UID cannot change.
func replacedPod(err error) bool {
	var se *apierrors.StatusError
	if !errors.As(err, &se) || !apierrors.IsInvalid(err) || se.ErrStatus.Details == nil {
		return false
	}
	for _, c := range se.ErrStatus.Details.Causes {
		if c.Field == "metadata.uid" {
			return true
		}
	}
	return false
}

// WithPod starts err's message with the pod that CNI_ARGS names, when it
// does not already: skel refuses a bad container ID, interface or network
// name before any verb runs, and its message names the field but not the
// pod whose sandbox is broken.
func WithPod(err *types.Error, cniArgs string) *types.Error {
	if err == nil {
		return nil
	}
	_, pod, perr := parseCNIArgs(cniArgs)
	if perr != nil || pod.Name == "" || strings.HasPrefix(err.Msg, pod.String()+": ") {
		return err
	}
	return &types.Error{Code: err.Code, Msg: pod.String() + ": " + err.Msg, Details: err.Details}
}

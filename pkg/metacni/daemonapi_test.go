package metacni

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meta-cni/meta-cni/pkg/kube"
)

// countingAPI counts NAD GETs and answers them with err.
type countingAPI struct {
	fakeAPI
	calls atomic.Int32
	err   error
}

func (c *countingAPI) GetNetworkAttachmentDefinition(ctx context.Context, ns, name string) (*nadv1.NetworkAttachmentDefinition, error) {
	c.calls.Add(1)
	if c.err != nil {
		return nil, c.err
	}
	return c.fakeAPI.GetNetworkAttachmentDefinition(ctx, ns, name)
}

func newDaemonAPI(daemon API, direct func() (API, error)) (*daemonAPI, *bytes.Buffer) {
	var log bytes.Buffer
	return &daemonAPI{daemon: daemon, direct: direct, log: slog.New(slog.NewTextHandler(&log, nil))}, &log
}

func TestDaemonAPIFallsBackToTheKubeconfigOnceTheSocketRefuses(t *testing.T) {
	daemon := &countingAPI{err: &kube.UnreachableError{Op: "GET", Err: &kube.DaemonUnavailableError{Socket: "/run/x.sock", Err: errors.New("connection refused")}}}
	direct := &countingAPI{fakeAPI: fakeAPI{nads: map[string]string{"ns/a": `{"type":"macvlan"}`}}}
	built := 0
	a, log := newDaemonAPI(daemon, func() (API, error) { built++; return direct, nil })
	for i := 0; i < 3; i++ {
		if _, err := a.GetNetworkAttachmentDefinition(context.Background(), "ns", "a"); err != nil {
			t.Fatalf("GET %d: %v", i, err)
		}
	}
	if daemon.calls.Load() != 1 || direct.calls.Load() != 3 || built != 1 {
		t.Fatalf("daemon called %d times, direct %d, built %d: want 1, 3, 1", daemon.calls.Load(), direct.calls.Load(), built)
	}
	if n := strings.Count(log.String(), "node API is unavailable"); n != 1 {
		t.Fatalf("logged the fallback %d times, want once:\n%s", n, log.String())
	}
}

func TestDaemonAPIReturnsTheDaemonsAnswerWithoutFallingBack(t *testing.T) {
	notFound := apierrors.NewNotFound(nadResource, "a")
	daemon := &countingAPI{err: notFound}
	a, _ := newDaemonAPI(daemon, func() (API, error) {
		t.Fatal("the direct client was built although the daemon answered")
		return nil, nil
	})
	_, err := a.GetNetworkAttachmentDefinition(context.Background(), "ns", "a")
	if !apierrors.IsNotFound(err) {
		t.Fatalf("error %v, want the daemon's NotFound", err)
	}
}

func TestDaemonAPIReportsAnUnusableKubeconfigOnFallback(t *testing.T) {
	daemon := &countingAPI{err: &kube.DaemonUnavailableError{Socket: "/run/x.sock", Err: errors.New("no such file")}}
	bad := errors.New(`meta-cni config field "kubeconfig": load kubeconfig: no such file`)
	a, _ := newDaemonAPI(daemon, func() (API, error) { return nil, bad })
	if _, err := a.GetNetworkAttachmentDefinition(context.Background(), "ns", "a"); !errors.Is(err, bad) {
		t.Fatalf("error %v, want the kubeconfig's", err)
	}
}

// While a daemon pod is replaced, the token it copied for the kubeconfig
// is refused (it was bound to the deleted pod): the ADD must fail with
// code 11, naming the daemon's socket, so the kubelet retries the sandbox
// rather than the pod running without its networks. A real node showed
// this as a bare "get pod default/x: Unauthorized" with code 999.
func TestDaemonAPIRefusedFallbackIsTryAgainNamingTheSocket(t *testing.T) {
	for name, directErr := range map[string]error{
		"token refused": apierrors.NewUnauthorized("Unauthorized"),
		// helm uninstall removes the RBAC before the token dies
		"chart's RBAC gone": apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "p", errors.New(`User "system:serviceaccount:kube-system:meta-cni" cannot get resource "pods"`)),
		"no answer":         &kube.UnreachableError{Op: "GET /api/v1/namespaces/ns/pods/p", Err: errors.New("i/o timeout")},
	} {
		t.Run(name, func(t *testing.T) {
			daemon := &countingAPI{err: &kube.DaemonUnavailableError{Socket: "/run/meta-cni/node-api.sock", Err: errors.New("no such file or directory")}}
			a, _ := newDaemonAPI(daemon, func() (API, error) { return &countingAPI{err: directErr}, nil })
			a.socket = "/run/meta-cni/node-api.sock"
			_, err := a.GetNetworkAttachmentDefinition(context.Background(), "ns", "a")
			cerr := cniError(podRef{Namespace: "ns", Name: "p"}, fmt.Errorf("get NetworkAttachmentDefinition ns/a: %w", err))
			if cerr.Code != types.ErrTryAgainLater {
				t.Errorf("code %d (%s), want %d", cerr.Code, cerr.Msg, types.ErrTryAgainLater)
			}
			for _, want := range []string{"pod ns/p", "/run/meta-cni/node-api.sock", directErr.Error()} {
				if !strings.Contains(cerr.Msg, want) {
					t.Errorf("message %q does not name %q", cerr.Msg, want)
				}
			}
			if !strings.Contains(cerr.Details, "meta-cni-daemon") {
				t.Errorf("details %q do not say what to wait for", cerr.Details)
			}
		})
	}
}

// Any other answer of the fallback is the API server's own, with its code:
// a NAD that does not exist is not a reason to try again.
func TestDaemonAPIFallbackPassesOtherAnswersThrough(t *testing.T) {
	daemon := &countingAPI{err: &kube.DaemonUnavailableError{Socket: "/run/x.sock", Err: errors.New("refused")}}
	notFound := apierrors.NewNotFound(nadResource, "a")
	a, _ := newDaemonAPI(daemon, func() (API, error) { return &countingAPI{err: notFound}, nil })
	_, err := a.GetNetworkAttachmentDefinition(context.Background(), "ns", "a")
	var down *daemonDownError
	if !apierrors.IsNotFound(err) || errors.As(err, &down) {
		t.Fatalf("error %#v, want the API server's NotFound as it is", err)
	}
}

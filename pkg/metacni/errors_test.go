package metacni

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meta-cni/meta-cni/pkg/annotations"
	"github.com/meta-cni/meta-cni/pkg/config"
	"github.com/meta-cni/meta-cni/pkg/delegate"
	"github.com/meta-cni/meta-cni/pkg/kube"
)

func TestOwnCodesAreInTheREADMEsRange(t *testing.T) {
	// The README reserves 120 and up for meta-cni's own codes.
	if CodeForbidden != 120 || CodeDelegateFailed != 121 {
		t.Fatalf("CodeForbidden, CodeDelegateFailed = %d, %d; want 120, 121 as the README lists", CodeForbidden, CodeDelegateFailed)
	}
}

func TestClassifyMapsEachErrorToItsCNICode(t *testing.T) {
	podsResource := schema.GroupResource{Resource: "pods"}
	notFound := apierrors.NewNotFound(podsResource, "p")
	for _, tc := range []struct {
		name string
		err  error
		want uint
	}{
		{"config field error is invalid config", &config.FieldError{Field: "logLevel", Reason: "bad"}, 7},
		{"annotation error is invalid config", &annotations.Error{Annotation: annotations.NetworksKey, Entry: 0, Reason: "bad"}, 7},
		{"build error is invalid config", &delegate.BuildError{Network: "ns/a", Field: "plugins", Reason: "is empty"}, 7},
		{"network error is invalid config", &NetworkError{Network: "ns/a", Reason: "not found"}, 7},
		{"network error wrapping NotFound stays invalid config", &NetworkError{Network: "ns/a", Reason: "not found", Err: notFound}, 7},
		{"wrapped field error is invalid config", fmt.Errorf("load: %w", &config.FieldError{Field: "x", Reason: "y"}), 7},
		{"bad CNI_ARGS is invalid environment", &argsError{"CNI_ARGS entry \"x\" is not KEY=VALUE"}, 4},
		{"UID mismatch is unknown container", fmt.Errorf("get pod: %w", &kube.UIDMismatchError{Namespace: "ns", Name: "p", Want: "a", Got: "b"}), 3},
		{"missing record is unknown container", &unknownContainerError{"no record"}, 3},
		{"readiness file missing is try again later", &notReadyError{file: "/run/ready", waited: time.Second}, 11},
		{"unreachable API is try again later", &kube.UnreachableError{Op: "GET /api", Err: errors.New("connection refused")}, 11},
		{"unreachable API while reading the pod is try again later", &podError{&kube.UnreachableError{Op: "GET /api", Err: errors.New("refused")}}, 11},
		{"API timeout is try again later", apierrors.NewTimeoutError("slow", 1), 11},
		{"deadline exceeded is try again later", fmt.Errorf("get pod: %w", context.DeadlineExceeded), 11},
		{"forbidden is meta-cni's CodeForbidden", apierrors.NewForbidden(podsResource, "p", errors.New("rbac")), CodeForbidden},
		{"forbidden reading the pod is CodeForbidden", &podError{fmt.Errorf("get pod ns/p: %w", apierrors.NewForbidden(podsResource, "p", errors.New("rbac")))}, CodeForbidden},
		{"pod not found is unknown container", &podError{fmt.Errorf("get pod ns/p: %w", notFound)}, 3},
		{"NotFound that is not about the pod is internal", notFound, 999},
		{"status patch refused for the UID is unknown container (pod replaced)", &podError{fmt.Errorf("patch: %w",
			apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "p", field.ErrorList{field.Invalid(field.NewPath("metadata", "uid"), "b", "field is immutable")}))}, 3},
		{"status patch invalid for another field is internal", &podError{fmt.Errorf("patch: %w",
			apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "p", field.ErrorList{field.TooLong(field.NewPath("metadata", "annotations"), "", 262144)}))}, 999},
		{"attachment cache failure is I/O failure", &ioError{errors.New("disk full")}, 5},
		{"delegate CNI error keeps the delegate's code", &delegate.Error{Network: "ns/a", IfName: "net1", Op: "add", Err: &types.Error{Code: 42, Msg: "no"}}, 42},
		{"delegate CNI error joined with a rollback error keeps the code",
			errors.Join(&delegate.Error{Network: "ns/a", IfName: "net1", Op: "add", Err: &types.Error{Code: 42, Msg: "no"}},
				&delegate.Error{Network: "ns/a", IfName: "net1", Op: "delete", Err: errors.New("also no")}), 42},
		{"delegate plain error is meta-cni's CodeDelegateFailed", &delegate.Error{Network: "ns/a", IfName: "net1", Op: "add", Err: errors.New("exec failed")}, CodeDelegateFailed},
		{"bare CNI error keeps its code", &types.Error{Code: 6, Msg: "decode"}, 6},
		// What libcni returns for a delegate killed by a signal mid-ADD
		// (issue 10's crash scenario): code 0, which is no CNI code.
		{"delegate killed without an error of its own is CodeDelegateFailed",
			&delegate.Error{Network: "ns/a", IfName: "net1", Op: "add", Err: &types.Error{Msg: "netplugin failed with no error message: signal: killed"}}, CodeDelegateFailed},
		{"bare code-0 CNI error is an internal error", &types.Error{Msg: "netplugin failed with no error message: signal: killed"}, types.ErrInternal},
		{"anything else is internal", errors.New("surprise"), 999},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := classify(tc.err); got != tc.want {
				t.Fatalf("classify(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

func TestClassifyHintsNameWhatToDo(t *testing.T) {
	for _, tc := range []struct {
		err  error
		hint string
	}{
		{&config.FieldError{Field: "x", Reason: "y"}, "fix the named field"},
		{apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "p", errors.New("rbac")), "lacks a permission"},
		{&delegate.Error{Network: "ns/a", Op: "add", Err: &types.Error{Code: 42}}, "reported by the delegate of network ns/a"},
		{&delegate.Error{Network: "ns/a", Op: "add", Err: errors.New("x")}, "the delegate of network ns/a failed"},
		{&types.Error{Code: 6, Details: "from below"}, "from below"},
	} {
		if _, hint := classify(tc.err); !strings.Contains(hint, tc.hint) {
			t.Errorf("classify(%v) hint = %q, want it to contain %q", tc.err, hint, tc.hint)
		}
	}
}

func TestCNIErrorMessageStartsWithThePod(t *testing.T) {
	err := &NetworkError{Network: "ns/a", Field: "interface", Reason: "clash"}
	got := cniError(podRef{Namespace: "ns", Name: "web-1", UID: "u"}, err)
	if got.Code != types.ErrInvalidNetworkConfig {
		t.Errorf("code = %d, want 7", got.Code)
	}
	if want := "pod ns/web-1: " + err.Error(); got.Msg != want {
		t.Errorf("message = %q, want %q", got.Msg, want)
	}
	if got.Details != "fix the named field" {
		t.Errorf("details = %q", got.Details)
	}
}

func TestCNIErrorWithoutPodIsTheBareMessage(t *testing.T) {
	err := &argsError{"CNI_ARGS entry \"x\" is not KEY=VALUE"}
	got := cniError(podRef{}, err)
	if got.Code != types.ErrInvalidEnvironmentVariables || got.Msg != err.Error() {
		t.Fatalf("cniError = %+v, want code 4 and the bare message", got)
	}
}

func TestCNIErrorCodesForEveryClass(t *testing.T) {
	pod := podRef{Namespace: "ns", Name: "p"}
	for _, tc := range []struct {
		err  error
		want uint
	}{
		{&ioError{errors.New("disk")}, 5},
		{&delegate.Error{Network: "ns/a", Op: "add", Err: &types.Error{Code: 42}}, 42},
		{&delegate.Error{Network: "ns/a", Op: "add", Err: errors.New("x")}, CodeDelegateFailed},
		{&kube.UnreachableError{Op: "GET", Err: errors.New("x")}, 11},
	} {
		got := cniError(pod, tc.err)
		if got.Code != tc.want || !strings.HasPrefix(got.Msg, "pod ns/p: ") {
			t.Errorf("cniError(%v) = %+v, want code %d and message starting with \"pod ns/p: \"", tc.err, got, tc.want)
		}
	}
}

func TestParseCNIArgs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		pairs [][2]string
		pod   podRef
	}{
		{"empty means no args and no pod", "", nil, podRef{}},
		{"kubelet's args",
			"IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web-1;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1",
			[][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAMESPACE", "ns1"}, {"K8S_POD_NAME", "web-1"}, {"K8S_POD_INFRA_CONTAINER_ID", "abc"}, {"K8S_POD_UID", "u-1"}},
			podRef{Namespace: "ns1", Name: "web-1", UID: "u-1"}},
		{"empty entries are skipped", ";K8S_POD_NAMESPACE=ns;;K8S_POD_NAME=p;",
			[][2]string{{"K8S_POD_NAMESPACE", "ns"}, {"K8S_POD_NAME", "p"}},
			podRef{Namespace: "ns", Name: "p"}},
		{"value may hold '='", "FOO=a=b",
			[][2]string{{"FOO", "a=b"}}, podRef{}},
		{"empty value is kept", "FOO=",
			[][2]string{{"FOO", ""}}, podRef{}},
		{"namespace without name is not a Kubernetes caller", "K8S_POD_NAMESPACE=ns",
			[][2]string{{"K8S_POD_NAMESPACE", "ns"}}, podRef{Namespace: "ns"}},
		{"later value wins", "K8S_POD_NAMESPACE=a;K8S_POD_NAMESPACE=b;K8S_POD_NAME=p",
			[][2]string{{"K8S_POD_NAMESPACE", "a"}, {"K8S_POD_NAMESPACE", "b"}, {"K8S_POD_NAME", "p"}},
			podRef{Namespace: "b", Name: "p"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pairs, pod, err := parseCNIArgs(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(pairs, tc.pairs) || pod != tc.pod {
				t.Fatalf("parseCNIArgs(%q) = %v, %+v; want %v, %+v", tc.in, pairs, pod, tc.pairs, tc.pod)
			}
		})
	}
}

func TestParseCNIArgsRejectsMalformedArgs(t *testing.T) {
	for _, tc := range []struct{ in, reason string }{
		{"K8S_POD_NAME", `CNI_ARGS entry "K8S_POD_NAME" is not KEY=VALUE`},
		{"A=1;junk;B=2", `CNI_ARGS entry "junk" is not KEY=VALUE`},
		{"K8S_POD_NAME=p", "CNI_ARGS has K8S_POD_NAME but no K8S_POD_NAMESPACE"},
		{"K8S_POD_NAMESPACE=;K8S_POD_NAME=p", "CNI_ARGS has K8S_POD_NAME but no K8S_POD_NAMESPACE"},
		// The pod's names go into API paths (found by FuzzParseCNIArgs).
		{"K8S_POD_NAMESPACE=../kube-system;K8S_POD_NAME=p", `CNI_ARGS K8S_POD_NAMESPACE "../kube-system": ` + dns1123Label},
		{"K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p?fieldSelector=x", `CNI_ARGS K8S_POD_NAME "p?fieldSelector=x": ` + dns1123Subdomain},
		{"K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p/status", `CNI_ARGS K8S_POD_NAME "p/status": ` + dns1123Subdomain},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, _, err := parseCNIArgs(tc.in)
			var aerr *argsError
			if !errors.As(err, &aerr) || err.Error() != tc.reason {
				t.Fatalf("parseCNIArgs(%q) = %v, want argsError %q", tc.in, err, tc.reason)
			}
			if code, _ := classify(err); code != types.ErrInvalidEnvironmentVariables {
				t.Fatalf("code = %d, want 4", code)
			}
		})
	}
}

// Kubernetes' own messages for an invalid namespace and name.
const (
	dns1123Label     = `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`
	dns1123Subdomain = `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`
)

func TestPodRefString(t *testing.T) {
	if got := (podRef{Namespace: "ns", Name: "p"}).String(); got != "pod ns/p" {
		t.Errorf("String() = %q", got)
	}
	if got := (podRef{}).String(); got != "container" {
		t.Errorf("String() = %q", got)
	}
}

// skel's own refusals (a container ID, interface or network name it will
// not pass on) get the pod's name in front, as every other error has it.
func TestWithPodNamesThePodOfSkelsRefusals(t *testing.T) {
	args := "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web-0;K8S_POD_UID=u"
	skelErr := &types.Error{Code: types.ErrInvalidEnvironmentVariables, Msg: "invalid characters in containerID ../x"}
	got := WithPod(skelErr, args)
	if got.Code != skelErr.Code || got.Msg != "pod ns/web-0: invalid characters in containerID ../x" {
		t.Errorf("WithPod = %+v", got)
	}
	if again := WithPod(got, args); again.Msg != got.Msg {
		t.Errorf("named twice: %q", again.Msg)
	}
	for _, bad := range []string{"", "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=../x", "garbage"} {
		if got := WithPod(skelErr, bad); got.Msg != skelErr.Msg {
			t.Errorf("CNI_ARGS %q: %q, want the message unchanged", bad, got.Msg)
		}
	}
	if WithPod(nil, args) != nil {
		t.Error("WithPod(nil) is not nil")
	}
}

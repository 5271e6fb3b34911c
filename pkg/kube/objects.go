package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
)

var (
	podsResource   = schema.GroupResource{Resource: "pods"}
	nadResource    = schema.GroupResource{Group: "k8s.cni.cncf.io", Resource: "network-attachment-definitions"}
	eventsResource = schema.GroupResource{Resource: "events"}
)

// Pod is the part of a pod meta-cni reads: its metadata. Decoding only the
// metadata keeps the hot path free of the full core/v1 Pod type.
type Pod struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
}

// GetPod reads one pod. When uid is not empty it must match: a different
// UID means the sandbox belongs to an older pod of the same name.
//
// The first read is served from the API server's watch cache
// (resourceVersion=0), which skips a quorum read in etcd. The kubelet learnt
// of the pod from that same cache, so it nearly always has it; when it does
// not (not found, or an older pod's UID), one consistent read settles it.
func (c *Client) GetPod(ctx context.Context, namespace, name, uid string) (*Pod, error) {
	path := fmt.Sprintf("/api/v1/namespaces/%s/pods/%s", namespace, name)
	pod := &Pod{}
	err := c.get(ctx, path+"?resourceVersion=0", podsResource, name, pod)
	if apierrors.IsNotFound(err) || (err == nil && uid != "" && string(pod.UID) != uid) {
		pod = &Pod{}
		err = c.get(ctx, path, podsResource, name, pod)
	}
	if err != nil {
		return nil, fmt.Errorf("get pod %s/%s: %w", namespace, name, err)
	}
	if uid != "" && string(pod.UID) != uid {
		return nil, &UIDMismatchError{Namespace: namespace, Name: name, Want: uid, Got: string(pod.UID)}
	}
	return pod, nil
}

func (c *Client) get(ctx context.Context, path string, gr schema.GroupResource, name string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return c.do(ctx, "GET", path, "", nil, gr, name, out)
}

// UIDMismatchError means the pod of that name is not the one the runtime
// is setting up.
type UIDMismatchError struct {
	Namespace, Name, Want, Got string
}

func (e *UIDMismatchError) Error() string {
	return fmt.Sprintf("pod %s/%s has UID %s, not %s from K8S_POD_UID: the pod was replaced", e.Namespace, e.Name, e.Got, e.Want)
}

// GetNetworkAttachmentDefinition reads one NAD, from the watch cache first
// and consistently when the cache does not have it.
func (c *Client) GetNetworkAttachmentDefinition(ctx context.Context, namespace, name string) (*nadv1.NetworkAttachmentDefinition, error) {
	nad := &nadv1.NetworkAttachmentDefinition{}
	path := fmt.Sprintf("/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions/%s", namespace, name)
	err := c.get(ctx, path+"?resourceVersion=0", nadResource, name, nad)
	if apierrors.IsNotFound(err) {
		nad = &nadv1.NetworkAttachmentDefinition{}
		err = c.get(ctx, path, nadResource, name, nad)
	}
	if err != nil {
		return nil, fmt.Errorf("get NetworkAttachmentDefinition %s/%s: %w", namespace, name, err)
	}
	return nad, nil
}

// SetPodAnnotation merge-patches one annotation through the pods/status
// subresource, which is what the chart's RBAC grants. A merge patch carries
// no resourceVersion, so conflicts are rare; RetryOnConflict covers the
// rest. The patch carries the pod's UID: the API server refuses it (422,
// the UID is immutable) rather than annotate a newer pod of the same name.
func (c *Client) SetPodAnnotation(ctx context.Context, pod *Pod, key, value string) error {
	namespace, name := pod.Namespace, pod.Name
	meta := map[string]any{"annotations": map[string]string{key: value}}
	if pod.UID != "" {
		meta["uid"] = pod.UID
	}
	patch, err := json.Marshal(map[string]any{"metadata": meta})
	if err != nil {
		return err
	}
	path := fmt.Sprintf("/api/v1/namespaces/%s/pods/%s/status", namespace, name)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		return c.do(ctx, "PATCH", path, string(types.MergePatchType), patch, podsResource, name, nil)
	})
	if err != nil {
		return fmt.Errorf("patch annotation %s on pod %s/%s: %w", key, namespace, name, err)
	}
	return nil
}

// event is the part of a core/v1 Event meta-cni fills in. Declaring it
// here keeps the generated core/v1 types, and their start-up cost, out of
// the plugin binary.
type event struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	InvolvedObject    objectReference `json:"involvedObject"`
	Reason            string          `json:"reason"`
	Message           string          `json:"message"`
	Type              string          `json:"type"`
	Source            struct {
		Component string `json:"component"`
	} `json:"source"`
	FirstTimestamp      metav1.Time `json:"firstTimestamp"`
	LastTimestamp       metav1.Time `json:"lastTimestamp"`
	Count               int32       `json:"count"`
	ReportingController string      `json:"reportingComponent"`
}

type objectReference struct {
	Kind            string    `json:"kind"`
	APIVersion      string    `json:"apiVersion"`
	Namespace       string    `json:"namespace"`
	Name            string    `json:"name"`
	UID             types.UID `json:"uid"`
	ResourceVersion string    `json:"resourceVersion,omitempty"`
}

// Event records a core/v1 Event about a pod.
func (c *Client) Event(ctx context.Context, pod *Pod, eventType, reason, message string) error {
	now := metav1.NewTime(time.Now())
	ev := event{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: pod.Name + ".", Namespace: pod.Namespace},
		InvolvedObject: objectReference{
			Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
			ResourceVersion: pod.ResourceVersion,
		},
		Reason: reason, Message: message, Type: eventType,
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: "meta-cni",
	}
	ev.Source.Component = "meta-cni"
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	path := fmt.Sprintf("/api/v1/namespaces/%s/events", pod.Namespace)
	if err := c.do(ctx, "POST", path, "application/json", body, eventsResource, "", nil); err != nil {
		return fmt.Errorf("record event %s on pod %s/%s: %w", reason, pod.Namespace, pod.Name, err)
	}
	return nil
}

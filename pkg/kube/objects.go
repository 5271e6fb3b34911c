package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	corev1 "k8s.io/api/core/v1"
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
func (c *Client) GetPod(ctx context.Context, namespace, name, uid string) (*Pod, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	pod := &Pod{}
	path := fmt.Sprintf("/api/v1/namespaces/%s/pods/%s", namespace, name)
	if err := c.do(ctx, "GET", path, "", nil, podsResource, name, pod); err != nil {
		return nil, fmt.Errorf("get pod %s/%s: %w", namespace, name, err)
	}
	if uid != "" && string(pod.UID) != uid {
		return nil, &UIDMismatchError{Namespace: namespace, Name: name, Want: uid, Got: string(pod.UID)}
	}
	return pod, nil
}

// UIDMismatchError means the pod of that name is not the one the runtime
// is setting up.
type UIDMismatchError struct {
	Namespace, Name, Want, Got string
}

func (e *UIDMismatchError) Error() string {
	return fmt.Sprintf("pod %s/%s has UID %s, not %s from K8S_POD_UID: the pod was replaced", e.Namespace, e.Name, e.Got, e.Want)
}

// GetNetworkAttachmentDefinition reads one NAD.
func (c *Client) GetNetworkAttachmentDefinition(ctx context.Context, namespace, name string) (*nadv1.NetworkAttachmentDefinition, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	nad := &nadv1.NetworkAttachmentDefinition{}
	path := fmt.Sprintf("/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions/%s", namespace, name)
	if err := c.do(ctx, "GET", path, "", nil, nadResource, name, nad); err != nil {
		return nil, fmt.Errorf("get NetworkAttachmentDefinition %s/%s: %w", namespace, name, err)
	}
	return nad, nil
}

// SetPodAnnotation merge-patches one annotation through the pods/status
// subresource, which is what the chart's RBAC grants. A merge patch carries
// no resourceVersion, so conflicts are rare; RetryOnConflict covers the
// rest.
func (c *Client) SetPodAnnotation(ctx context.Context, namespace, name, key, value string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{key: value}}})
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

// Event records a core/v1 Event about a pod.
func (c *Client) Event(ctx context.Context, pod *Pod, eventType, reason, message string) error {
	now := metav1.NewTime(time.Now())
	ev := corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: pod.Name + ".", Namespace: pod.Namespace},
		InvolvedObject: corev1.ObjectReference{
			Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
			ResourceVersion: pod.ResourceVersion,
		},
		Reason: reason, Message: message, Type: eventType,
		Source:         corev1.EventSource{Component: "meta-cni"},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: "meta-cni.dev/meta-cni",
	}
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

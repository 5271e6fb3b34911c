package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// networkStatusKey is the one annotation the node API writes.
const networkStatusKey = "k8s.v1.cni.cncf.io/network-status"

// statusPatch is the only write the node API makes on pods/status: one
// pod's network-status, guarded by its UID. The daemon's ServiceAccount
// may patch the status of any pod in the cluster, so the node API takes
// nothing wider than this from the node.
type statusPatch struct {
	UID   string
	Value string
}

// parseStatusPatch accepts exactly a JSON merge patch of
// {"metadata":{"uid":UID,"annotations":{network-status: VALUE}}} with a
// network-status that is a JSON list, and nothing else.
func parseStatusPatch(contentType string, body []byte) (statusPatch, error) {
	var sp statusPatch
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != "application/merge-patch+json" {
		return sp, fmt.Errorf("content type %q: only application/merge-patch+json is taken", contentType)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return sp, fmt.Errorf("patch is not a JSON object: %w", err)
	}
	if err := onlyKeys(top, "", "metadata"); err != nil {
		return sp, err
	}
	var meta map[string]json.RawMessage
	if err := json.Unmarshal(top["metadata"], &meta); err != nil {
		return sp, fmt.Errorf("metadata is not an object: %w", err)
	}
	if err := onlyKeys(meta, "metadata.", "uid", "annotations"); err != nil {
		return sp, err
	}
	if err := json.Unmarshal(meta["uid"], &sp.UID); err != nil || sp.UID == "" {
		return sp, errors.New("metadata.uid must be the pod's UID, a non-empty string")
	}
	var ann map[string]json.RawMessage
	if err := json.Unmarshal(meta["annotations"], &ann); err != nil {
		return sp, fmt.Errorf("metadata.annotations is not an object: %w", err)
	}
	if err := onlyKeys(ann, "metadata.annotations.", networkStatusKey); err != nil {
		return sp, err
	}
	// "null" unmarshals into a nil list without error, and is no list.
	var list []map[string]any
	if err := json.Unmarshal(ann[networkStatusKey], &sp.Value); err != nil || json.Unmarshal([]byte(sp.Value), &list) != nil || list == nil {
		return sp, fmt.Errorf("metadata.annotations.%s must be a string holding a JSON list of network statuses", networkStatusKey)
	}
	return sp, nil
}

// onlyKeys checks that obj has exactly the keys want.
func onlyKeys(obj map[string]json.RawMessage, prefix string, want ...string) error {
	for _, k := range want {
		if _, ok := obj[k]; !ok {
			return fmt.Errorf("%s%s is missing", prefix, k)
		}
	}
	for k := range obj {
		if !contains(want, k) {
			return fmt.Errorf("%s%s is not allowed: only %s%s", prefix, k, prefix, strings.Join(want, ", "+prefix))
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// body is the patch the daemon sends. It is built anew rather than
// forwarded, so the API server never sees bytes (duplicate keys, say)
// that it might read differently from the check above.
func (sp statusPatch) body() []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"uid": sp.UID, "annotations": map[string]string{networkStatusKey: sp.Value}}})
	return b
}

// notOnNodeError refuses a patch for a pod that this node does not run.
type notOnNodeError struct {
	pod, podNode, node string
}

func (e *notOnNodeError) Error() string {
	if e.node == "" {
		return fmt.Sprintf("meta-cni-daemon does not know its node (NODE_NAME is not set), so it cannot check that pod %s runs on this node", e.pod)
	}
	return fmt.Sprintf("pod %s is scheduled on node %q, not on this node %q: its network-status is not this node's to set", e.pod, e.podNode, e.node)
}

// replacedError is a patch whose pod has another UID by now.
type replacedError struct {
	pod, want, got string
}

func (e *replacedError) Error() string {
	return fmt.Sprintf("pod %s has UID %s, not %s: the pod was replaced", e.pod, e.got, e.want)
}

// checkPlacement makes sure p's pod, with p's UID, is scheduled on node.
// spec.nodeName never changes once set and the patch names the UID, so a
// pod that passes here is the pod the patch lands on. The watch cache
// (resourceVersion=0) answers first; only a pod it has not seen bound
// here, or at all, costs a consistent read.
func checkPlacement(ctx context.Context, client *http.Client, upstream *url.URL, node string, p *pendingStatus) (retry bool, err error) {
	if node == "" {
		// An unscheduled pod's empty spec.nodeName would match.
		return false, &notOnNodeError{pod: p.key()}
	}
	uid, podNode, retry, err := getPlacement(ctx, client, upstream, p.Namespace, p.Name, true)
	if err == nil && uid == p.UID && podNode == node {
		return false, nil
	}
	var ue *upstreamError
	if err != nil && (!errors.As(err, &ue) || ue.code != http.StatusNotFound) {
		return retry, err
	}
	if uid, podNode, retry, err = getPlacement(ctx, client, upstream, p.Namespace, p.Name, false); err != nil {
		return retry, err
	}
	switch {
	case uid != p.UID:
		return false, &replacedError{pod: p.key(), want: p.UID, got: uid}
	case podNode != node:
		return false, &notOnNodeError{pod: p.key(), podNode: podNode, node: node}
	}
	return false, nil
}

// getPlacement reads a pod's UID and node.
func getPlacement(ctx context.Context, client *http.Client, upstream *url.URL, namespace, name string, cached bool) (uid, node string, retry bool, err error) {
	u := *upstream
	u.Path = fmt.Sprintf("/api/v1/namespaces/%s/pods/%s", namespace, name)
	if cached {
		u.RawQuery = "resourceVersion=0"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", "", false, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := client.Do(req)
	if err != nil {
		return "", "", true, fmt.Errorf("get pod %s/%s: %w", namespace, name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", "", true, fmt.Errorf("get pod %s/%s: %w", namespace, name, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(body))
		var st metav1.Status
		if json.Unmarshal(body, &st) == nil && st.Message != "" {
			msg = st.Message
		}
		return "", "", retryableStatus(resp.StatusCode), &upstreamError{code: resp.StatusCode,
			msg: fmt.Sprintf("get pod %s/%s: %s: %s", namespace, name, resp.Status, msg)}
	}
	var pod struct {
		Metadata struct {
			UID string `json:"uid"`
		} `json:"metadata"`
		Spec struct {
			NodeName string `json:"nodeName"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(body, &pod); err != nil {
		return "", "", false, fmt.Errorf("decode pod %s/%s: %w", namespace, name, err)
	}
	return pod.Metadata.UID, pod.Spec.NodeName, false, nil
}

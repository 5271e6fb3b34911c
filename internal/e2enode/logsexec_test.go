package e2enode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv/realnode"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// logsAndExec: the API server reaches the pod's kubelet (at the node's
// InternalIP, through its egress to the fabric), so `kubectl logs` and
// `kubectl exec` work, here through client-go's equivalents: the pod's
// log has the workload's start line, and `workload -identity` run in the
// container by both of kubectl's exec protocols (WebSocket first, SPDY as
// its fallback) prints the pod's own hostname and address, and its exit
// code comes back.
func logsAndExec(t *testing.T, c *realnode.Cluster, p corev1.Pod) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logs, err := c.Clientset().CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: "workload"}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("logs of pod %s on %s: %v", p.Name, p.Spec.NodeName, err)
	}
	if !strings.Contains(string(logs), "msg=serving") {
		t.Errorf("logs of pod %s lack the workload's start line:\n%s", p.Name, logs)
	}
	for _, proto := range []string{"WebSocket", "SPDY"} {
		t.Run(proto, func(t *testing.T) {
			out, _, err := execIn(ctx, t, c, p, proto, "/usr/bin/workload", "-identity")
			if err != nil {
				t.Fatalf("exec in pod %s on %s: %v", p.Name, p.Spec.NodeName, err)
			}
			var id struct {
				Hostname   string `json:"hostname"`
				Interfaces []struct {
					Name  string   `json:"name"`
					Addrs []string `json:"addrs"`
				} `json:"interfaces"`
			}
			if err := json.Unmarshal(out, &id); err != nil {
				t.Fatalf("exec printed %q: %v", out, err)
			}
			if id.Hostname != p.Name {
				t.Errorf("exec ran where the hostname is %q, want the pod's %q", id.Hostname, p.Name)
			}
			if !strings.Contains(string(out), `"`+p.Status.PodIP+`/`) {
				t.Errorf("exec in pod %s does not see its address %s:\n%s", p.Name, p.Status.PodIP, out)
			}
			_, stderr, err := execIn(ctx, t, c, p, proto, "/usr/bin/workload", "-no-such-flag")
			var exit utilexec.CodeExitError
			if !errors.As(err, &exit) || exit.Code != 2 {
				t.Errorf("exec of a bad flag: error %v (stderr %q), want exit code 2", err, stderr)
			}
		})
	}
}

// execIn runs argv in the pod's workload container through the API
// server, as kubectl exec does with proto "WebSocket" or "SPDY".
func execIn(ctx context.Context, t *testing.T, c *realnode.Cluster, p corev1.Pod, proto string, argv ...string) ([]byte, string, error) {
	t.Helper()
	req := c.Clientset().CoreV1().RESTClient().Post().Namespace(p.Namespace).Resource("pods").Name(p.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: "workload", Command: argv, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	var ex remotecommand.Executor
	var err error
	if proto == "SPDY" {
		ex, err = remotecommand.NewSPDYExecutor(c.Kube.AdminConfig(), "POST", req.URL())
	} else {
		ex, err = remotecommand.NewWebSocketExecutor(c.Kube.AdminConfig(), "GET", req.URL().String())
	}
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	return stdout.Bytes(), stderr.String(), err
}

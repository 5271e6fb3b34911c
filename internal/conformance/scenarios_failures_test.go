package conformance_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Failures: delegates that fail, binaries that are missing, DEL without
// the API or without a cache, and pods that are gone.
func init() {
	a := macvlanNAD("macvlan-a", "192.168.91.0/24")
	scenarios = append(scenarios,
		&scenario{name: "failing-delegate-rolls-back",
			nads: []nad{a, {name: "bad-master", config: `{"cniVersion": "1.0.0", "type": "macvlan", "master": "no-such-link",
  "ipam": {"type": "host-local", "subnet": "192.168.110.0/24", "dataDir": "$DIR/ipam"}}`}},
			pods: []pod{annotated("p1", "macvlan-a,bad-master")}},
		&scenario{name: "conflist-with-missing-binary",
			nads: []nad{a, {name: "half-missing", config: `{"cniVersion": "1.0.0", "name": "half-missing", "plugins": [
  {"type": "macvlan", "master": "$MASTER", "mode": "bridge", "ipam": {"type": "host-local", "subnet": "192.168.111.0/24", "dataDir": "$DIR/ipam"}},
  {"type": "no-such-plugin"}]}`}},
			pods: []pod{annotated("p1", "macvlan-a,half-missing")},
			meta: metaMissingBinary},
		&scenario{name: "del-with-api-down", nads: []nad{a},
			pods:      []pod{annotated("p1", "macvlan-a")},
			beforeDel: func(r *run) { r.kube.StopAPIServer() },
			afterDel: func(r *run) {
				if err := r.kube.Start(); err != nil {
					r.t.Fatalf("restart kube-apiserver: %v", err)
				}
			}},
		&scenario{name: "del-without-cache", nads: []nad{a},
			pods: []pod{annotated("p1", "macvlan-a")},
			beforeDel: func(r *run) {
				if err := os.RemoveAll(filepath.Join(r.dir, "cache")); err != nil {
					r.t.Fatal(err)
				}
			}},
		&scenario{name: "del-after-pod-deleted", nads: []nad{a},
			pods: []pod{annotated("p1", "macvlan-a")},
			beforeDel: func(r *run) {
				for _, sb := range r.pods {
					r.deletePod(sb.obj.Namespace, sb.obj.Name)
				}
			}},
		&scenario{name: "add-for-deleted-pod", nads: []nad{a},
			pods: []pod{annotated("p1", "macvlan-a")},
			meta: func(t *testing.T, o *observation) {
				requireOutcome(t, o.Add, "error code 3")
				requireOutcome(t, o.Del, "ok")
				requireNothingLeft(t, o)
			},
			prepare: func(r *run) {
				for _, sb := range r.pods {
					r.deletePod(sb.obj.Namespace, sb.obj.Name)
				}
			}},
		&scenario{name: "add-with-stale-pod-uid", nads: []nad{a},
			pods: []pod{annotated("p1", "macvlan-a")},
			prepare: func(r *run) {
				// The runtime's UID is of a pod that was replaced by one of
				// the same name, as a StatefulSet does.
				for _, sb := range r.pods {
					r.deletePod(sb.obj.Namespace, sb.obj.Name)
					obj := sb.obj.DeepCopy()
					obj.ResourceVersion, obj.UID = "", ""
					if _, err := r.kube.Clientset().CoreV1().Pods(obj.Namespace).Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
						r.t.Fatal(err)
					}
				}
			}},
		&scenario{name: "binDir-and-cni-path",
			nads:    []nad{{name: "aliased", config: `{"cniVersion": "1.0.0", "type": "macvlan-in-bindir", "master": "$MASTER", "mode": "bridge", "ipam": {"type": "host-local", "subnet": "192.168.112.0/24", "dataDir": "$DIR/ipam"}}`}},
			netconf: map[string]any{"binDir": "$DIR/bin"},
			prepare: func(r *run) {
				if err := os.MkdirAll(filepath.Join(r.dir, "bin"), 0o755); err != nil {
					r.t.Fatal(err)
				}
				if err := os.Symlink(filepath.Join(r.node.CNIPath, "macvlan"), filepath.Join(r.dir, "bin", "macvlan-in-bindir")); err != nil {
					r.t.Fatal(err)
				}
			},
			pods: []pod{annotated("p1", "aliased")}},
		&scenario{name: "runtime-config-port-mappings",
			files: map[string]string{"net.d/10-cbr0.conflist": `{"cniVersion": "1.0.0", "name": "cbr0", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipam": {"type": "host-local", "subnet": "10.244.1.0/24", "dataDir": "$DIR/ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}]}`},
			netconf:        map[string]any{"capabilities": map[string]any{"portMappings": true}},
			capabilityArgs: map[string]any{"portMappings": []any{map[string]any{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}}},
			nodeRules:      true,
			pods:           []pod{{name: "p1"}}},
		&scenario{name: "verbs-check-status-gc", nads: []nad{a}, cniVersion: "1.1.0",
			verbs: []string{"CHECK", "STATUS", "GC"},
			pods:  []pod{annotated("p1", "macvlan-a"), {name: "p2"}},
			meta:  metaVerbs},
		&scenario{name: "verbs-at-1.0.0", nads: []nad{a},
			verbs: []string{"CHECK", "STATUS", "GC"},
			pods:  []pod{annotated("p1", "macvlan-a")}},
	)
}

func sleepSeconds(s float64) { time.Sleep(time.Duration(s * float64(time.Second))) }

// Package node answers "which Kubernetes node am I on" for every meta-cni
// binary, so the daemon, the plugin and etcd-ipam cannot disagree.
package node

import "os"

// EnvNames are read in order. The chart sets NODE_NAME from the pod's
// spec.nodeName; KUBERNETES_NODE_NAME is what other CNI deployments set.
var EnvNames = []string{"NODE_NAME", "KUBERNETES_NODE_NAME"}

// Name is this node's Kubernetes name from the environment, or "" when no
// variable names it. It never falls back to the hostname: cloned machines
// share one, and a node that mistook another's allocations for its own
// would release that node's live addresses.
func Name() string {
	for _, k := range EnvNames {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return ""
}

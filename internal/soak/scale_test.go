package soak

import (
	"os"
	"strconv"
)

// scale is how big a run is. SOAK=full is issue 10's size; anything else
// is `make test`'s, small enough for a shared two-core machine.
type scale struct {
	Name     string
	Nodes    int
	Pods     int // per churn round, across all nodes
	Rounds   int
	PoolFull int // the full-pool scenario's pool size
}

func currentScale() scale {
	s := scale{Name: "scaled", Nodes: 10, Pods: 100, Rounds: 1, PoolFull: 30}
	if os.Getenv("SOAK") == "full" {
		s = scale{Name: "full", Nodes: 10, Pods: 1000, Rounds: 3, PoolFull: 250}
	}
	// SOAK_NODES, SOAK_PODS and SOAK_ROUNDS override the size, to iterate
	// small or to fit a full-size round into a time budget.
	if v, err := strconv.Atoi(os.Getenv("SOAK_NODES")); err == nil && v > 0 {
		s.Nodes = v
	}
	if v, err := strconv.Atoi(os.Getenv("SOAK_PODS")); err == nil && v > 0 {
		s.Pods = v
	}
	if v, err := strconv.Atoi(os.Getenv("SOAK_ROUNDS")); err == nil && v > 0 {
		s.Rounds = v
	}
	return s
}

// perNodeConcurrency bounds a node's CNI calls in flight: issue 10's "at
// most 8 at a time per node", as a busy kubelet starts pods.
const perNodeConcurrency = 8

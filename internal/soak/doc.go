// Package soak is issue 10's harness: ten simulated nodes on one L2, each
// running the real meta-cni-daemon as the chart configures it, a real
// kube-apiserver and a three-member etcd, and the harness playing the ten
// kubelets. Its tests run each scenario and check the invariants after it;
// `make test` runs them scaled down, `make soak` at full scale (SOAK=full).
//
// The non-test files hold what a hack tool needs too: the results a run
// writes and the Markdown tables docs/reliability.md is made of.
package soak

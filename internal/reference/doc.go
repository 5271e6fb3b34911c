// Package reference proves the reference install of issue 10 (Multus thin
// v4.2.3 + Whereabouts v0.9.2, built from their modules by
// internal/testenv) on a real kube-apiserver and real network namespaces,
// and logs its per-pod ADD time beside meta-cni's on the same node. It has
// no code outside tests: the install itself is testenv's, for the soak
// harness to use.
package reference

//go:build tools

// Package tools pins the Kubernetes binaries that the end-to-end harness
// builds and runs: the control plane (kube-apiserver, kube-controller-manager,
// kube-scheduler), the node (kubelet, kube-proxy), and kubectl for users of
// `make node-up` who have none.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)

// Package e2enode runs meta-cni's end-to-end tests on real nodes: a real
// kubelet and containerd per node (internal/testenv/realnode). Test only.
package e2enode

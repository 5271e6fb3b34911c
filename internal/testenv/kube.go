package testenv

// KubeAPIServerBinary builds kube-apiserver from hack/tools/kube-apiserver
// (cached; the first build takes minutes) and returns its path.
func KubeAPIServerBinary() (string, error) {
	return buildTool("kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver", "kube-apiserver")
}

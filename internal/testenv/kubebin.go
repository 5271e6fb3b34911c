package testenv

import "strings"

// KubeVersion is the Kubernetes release pinned in hack/tools/kube-apiserver.
// The binaries built from it are stamped with it, so `kubectl get nodes`
// and `kubectl version` show a real version, not v0.0.0-master.
const KubeVersion = "v1.34.4"

// kubeLDFlags sets the version variables that Kubernetes' own build scripts
// set; a module build leaves them at their placeholders.
func kubeLDFlags() string {
	major, minor, _ := strings.Cut(strings.TrimPrefix(KubeVersion, "v"), ".")
	minor, _, _ = strings.Cut(minor, ".")
	var flags []string
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		flags = append(flags,
			"-X "+pkg+".gitVersion="+KubeVersion,
			"-X "+pkg+".gitMajor="+major,
			"-X "+pkg+".gitMinor="+minor,
			"-X "+pkg+".gitTreeState=clean",
			"-X "+pkg+".buildDate=1970-01-01T00:00:00Z",
		)
	}
	return strings.Join(flags, " ")
}

func kubeBinary(name string) (string, error) {
	return buildToolWithLDFlags("kube-apiserver", "k8s.io/kubernetes/cmd/"+name, name, kubeLDFlags())
}

// KubeletBinary builds the kubelet from hack/tools/kube-apiserver (cached;
// the first build takes about ten minutes on two cores and 2 GB of memory)
// and returns its path.
func KubeletBinary() (string, error) { return kubeBinary("kubelet") }

// KubeProxyBinary builds kube-proxy, like KubeletBinary.
func KubeProxyBinary() (string, error) { return kubeBinary("kube-proxy") }

// KubectlBinary builds kubectl, like KubeletBinary: the tests use
// client-go, but a user of `make node-up` gets a kubectl of the cluster's
// version (KUBECTL in .cache/node/env) even where none is installed.
func KubectlBinary() (string, error) { return kubeBinary("kubectl") }

// KubeControllerManagerBinary builds kube-controller-manager, like KubeletBinary.
func KubeControllerManagerBinary() (string, error) { return kubeBinary("kube-controller-manager") }

// KubeSchedulerBinary builds kube-scheduler, like KubeletBinary.
func KubeSchedulerBinary() (string, error) { return kubeBinary("kube-scheduler") }

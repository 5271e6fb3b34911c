// Command build builds the test tools (etcd, the Kubernetes binaries, helm,
// promcheck, the Multus releases the conformance suite compares against,
// and Whereabouts for the soak harness's reference install) into
// .cache/tools.
package main

import (
	"fmt"
	"os"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

func main() {
	builds := []func() (string, error){testenv.EtcdBinary, testenv.KubeAPIServerBinary,
		testenv.KubeControllerManagerBinary, testenv.KubeSchedulerBinary, testenv.KubeletBinary, testenv.KubeProxyBinary,
		testenv.HelmBinary, testenv.PromcheckBinary,
		testenv.WhereaboutsBinary, testenv.WhereaboutsControlLoopBinary}
	for _, v := range testenv.MultusVersions {
		builds = append(builds, func() (string, error) { return testenv.MultusBinary(v) })
	}
	for _, build := range builds {
		path, err := build()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(path)
	}
}

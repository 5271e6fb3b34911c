// Command build builds the test tools (etcd, kube-apiserver, helm, promcheck) into .cache/tools.
package main

import (
	"fmt"
	"os"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

func main() {
	for _, build := range []func() (string, error){testenv.EtcdBinary, testenv.KubeAPIServerBinary, testenv.HelmBinary, testenv.PromcheckBinary} {
		path, err := build()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(path)
	}
}

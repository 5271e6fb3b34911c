package realnode

import (
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeKubeconfig writes an admin kubeconfig for the control plane; the
// kubelets use it too, since a test node needs no node authorizer.
func writeKubeconfig(k *testenv.Kube, path string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["realnode"] = &clientcmdapi.Cluster{Server: k.URL, CertificateAuthority: k.CAFile}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: k.AdminToken}
	cfg.Contexts["realnode"] = &clientcmdapi.Context{Cluster: "realnode", AuthInfo: "admin"}
	cfg.CurrentContext = "realnode"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// startControllers runs kube-controller-manager (it creates the default
// ServiceAccounts and kube-root-ca.crt, and runs Deployments and
// DaemonSets) and kube-scheduler, both on loopback without serving ports.
func (c *Cluster) startControllers() error {
	kcm, err := testenv.KubeControllerManagerBinary()
	if err != nil {
		return err
	}
	sched, err := testenv.KubeSchedulerBinary()
	if err != nil {
		return err
	}
	progressf("kube-controller-manager and kube-scheduler")
	p, err := startProc("kube-controller-manager", filepath.Join(c.Dir, "kube-controller-manager.log"), kcm,
		"--kubeconfig="+c.Kubeconfig,
		"--service-account-private-key-file="+c.Kube.ServiceAccountKeyFile(),
		"--root-ca-file="+c.Kube.CAFile,
		"--use-service-account-credentials=false",
		"--leader-elect=false",
		"--bind-address=127.0.0.1", "--secure-port=0",
		"--controllers=*", // the cloud ones and node IPAM stay off by themselves here
		"--v=0")
	if err != nil {
		return err
	}
	c.controllers = append(c.controllers, p)
	p, err = startProc("kube-scheduler", filepath.Join(c.Dir, "kube-scheduler.log"), sched,
		"--kubeconfig="+c.Kubeconfig,
		"--leader-elect=false",
		"--bind-address=127.0.0.1", "--secure-port=0",
		"--v=0")
	if err != nil {
		return err
	}
	c.controllers = append(c.controllers, p)
	return c.waitDefaultServiceAccount(60 * time.Second)
}

// waitDefaultServiceAccount waits for the controller-manager's first work,
// so a test that creates pods right away does not race it.
func (c *Cluster) waitDefaultServiceAccount(timeout time.Duration) error {
	hc, err := clientForKube(c.Kube)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, p := range c.controllers {
			if !p.running() {
				return p.failure("exited")
			}
		}
		resp, err := hc.Get(c.Kube.URL + "/api/v1/namespaces/default/serviceaccounts/default")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return c.controllers[0].failure("no default ServiceAccount after " + timeout.String())
}

package testenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// whereaboutsCRDs are the CRD manifests of the Whereabouts module, as its
// install instructions apply them beside doc/crds/daemonset-install.yaml.
var whereaboutsCRDs = []string{
	"doc/crds/whereabouts.cni.cncf.io_ippools.yaml",
	"doc/crds/whereabouts.cni.cncf.io_overlappingrangeipreservations.yaml",
	"doc/crds/whereabouts.cni.cncf.io_nodeslicepools.yaml",
}

// InstallWhereaboutsCRDs creates Whereabouts' IPPool,
// OverlappingRangeIPReservation and NodeSlicePool CRDs, read from its
// module, with the rights of kubeconfig (cluster-admin), and waits until
// they are served. A CRD that exists already is left as it is.
func InstallWhereaboutsCRDs(kubeconfig string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
	}
	for _, rel := range whereaboutsCRDs {
		data, err := whereaboutsFile(rel)
		if err != nil {
			return err
		}
		if _, err := applyWith(cfg, data); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("install Whereabouts CRD %s: %w", filepath.Base(rel), err)
		}
	}
	return waitServedWith(cfg, "whereabouts.cni.cncf.io/v1alpha1", "ippools", "overlappingrangeipreservations", "nodeslicepools")
}

// WhereaboutsRBACRules are the rules of the ClusterRole that Whereabouts'
// own install manifest (doc/crds/daemonset-install.yaml) grants its
// ServiceAccount, read from the module.
func WhereaboutsRBACRules() ([]rbacv1.PolicyRule, error) {
	data, err := whereaboutsFile("doc/crds/daemonset-install.yaml")
	if err != nil {
		return nil, err
	}
	return clusterRoleRules(data, "whereabouts-cni")
}

// MultusRBACRules are the rules of the ClusterRole that Multus's own thin
// daemonset manifest (deployments/multus-daemonset.yml of the release
// hack/tools/multus pins) grants its ServiceAccount, read from the module.
func MultusRBACRules() ([]rbacv1.PolicyRule, error) {
	cmd := exec.Command("go", "mod", "download", "-json", "gopkg.in/k8snetworkplumbingwg/multus-cni.v4")
	cmd.Dir = filepath.Join(RepoRoot(), "hack", "tools", "multus")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("download the Multus module: %w%s", err, stderrOf(err))
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return nil, fmt.Errorf("locate the Multus module in %s: %v", out, err)
	}
	data, err := os.ReadFile(filepath.Join(mod.Dir, "deployments", "multus-daemonset.yml"))
	if err != nil {
		return nil, fmt.Errorf("read Multus's daemonset manifest: %w", err)
	}
	return clusterRoleRules(data, "multus")
}

// clusterRoleRules finds the ClusterRole called name in a multi-document
// manifest and returns its rules.
func clusterRoleRules(manifest []byte, name string) ([]rbacv1.PolicyRule, error) {
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096)
	for {
		var doc json.RawMessage
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("no ClusterRole %s in the manifest", name)
		} else if err != nil {
			return nil, fmt.Errorf("decode manifest looking for ClusterRole %s: %w", name, err)
		}
		var role rbacv1.ClusterRole
		if len(doc) == 0 || json.Unmarshal(doc, &role) != nil {
			continue
		}
		if role.Kind == "ClusterRole" && role.Name == name {
			return role.Rules, nil
		}
	}
}

// AdminKubeconfig writes a cluster-admin kubeconfig for this control plane
// into dir, for tools that take a kubeconfig path, and returns its path.
func (k *Kube) AdminKubeconfig(dir string) (string, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: k.URL, CertificateAuthority: k.CAFile}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: k.AdminToken}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "admin"}
	cfg.CurrentContext = "local"
	path := filepath.Join(dir, "admin.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", fmt.Errorf("write admin kubeconfig %s: %w", path, err)
	}
	return path, os.Chmod(path, 0o600)
}

// ReferenceCluster is the cluster-wide half of the reference install
// (Multus thin + Whereabouts): what their manifests create once per
// cluster, and the kubeconfigs their daemonsets derive from their
// ServiceAccounts' tokens.
type ReferenceCluster struct {
	// MultusKubeconfig is the identity of Multus's ServiceAccount
	// (kube-system/multus) with its manifest's ClusterRole.
	MultusKubeconfig string
	// WhereaboutsKubeconfig is the identity of Whereabouts' ServiceAccount
	// (kube-system/whereabouts) with its manifest's ClusterRole, in a
	// whereabouts.d directory beside the flat file WhereaboutsConf.
	WhereaboutsKubeconfig string
	// WhereaboutsConf is Whereabouts' flat configuration file
	// (whereabouts.conf) naming WhereaboutsKubeconfig, as its install
	// script writes it.
	WhereaboutsConf string
}

// InstallReference installs the cluster-wide part of Multus thin and
// Whereabouts on this control plane, with files in dir: Whereabouts'
// CRDs, and each project's ServiceAccount bound to the ClusterRole of its
// own install manifest. The NAD CRD is StartKube's.
func (k *Kube) InstallReference(dir string) (*ReferenceCluster, error) {
	admin, err := k.AdminKubeconfig(dir)
	if err != nil {
		return nil, err
	}
	if err := InstallWhereaboutsCRDs(admin); err != nil {
		return nil, err
	}
	multusRules, err := MultusRBACRules()
	if err != nil {
		return nil, err
	}
	wbRules, err := WhereaboutsRBACRules()
	if err != nil {
		return nil, err
	}
	rc := &ReferenceCluster{}
	multusDir, wbDir := filepath.Join(dir, "multus.d"), filepath.Join(dir, "whereabouts.d")
	for _, d := range []string{multusDir, wbDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if rc.MultusKubeconfig, err = k.ServiceAccountKubeconfig(multusDir, "kube-system", "multus", multusRules); err != nil {
		return nil, err
	}
	if rc.WhereaboutsKubeconfig, err = k.ServiceAccountKubeconfig(wbDir, "kube-system", "whereabouts", wbRules); err != nil {
		return nil, err
	}
	if rc.WhereaboutsConf, err = writeWhereaboutsConf(wbDir, rc.WhereaboutsKubeconfig); err != nil {
		return nil, err
	}
	return rc, nil
}

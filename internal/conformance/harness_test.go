package conformance_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// impl is one meta-plugin under test: a Multus release or meta-cni.
type impl struct {
	name string
	// multus is the path of a Multus thin binary; empty for meta-cni.
	multus string
	// kubeconfig holds the identity its own install grants it: Multus's
	// ClusterRole from its daemonset manifest, or meta-cni's chart role.
	kubeconfig string
}

func (i *impl) isMultus() bool { return i.multus != "" }

var (
	shared testenv.SharedKube

	implsOnce sync.Once
	impls     []*impl
	implsErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

func sharedKube(t testing.TB) *testenv.Kube { return shared.Get(t) }

// multusRBAC is the ClusterRole of Multus's own daemonset manifest
// (deployments/multus-daemonset.yml, v4.2.3): the thin plugin updates
// pods/status, where meta-cni's chart grants only patch.
var multusRBAC = []rbacv1.PolicyRule{
	{APIGroups: []string{"k8s.cni.cncf.io"}, Resources: []string{"*"}, Verbs: []string{"*"}},
	{APIGroups: []string{""}, Resources: []string{"pods", "pods/status"}, Verbs: []string{"get", "update"}},
	{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch", "update"}},
}

// implementations builds every Multus release and returns them, then
// meta-cni; each has a ServiceAccount with its install's rights.
func implementations(t testing.TB) []*impl {
	t.Helper()
	k := sharedKube(t)
	implsOnce.Do(func() {
		for _, v := range testenv.MultusVersions {
			bin, err := testenv.MultusBinary(v)
			if err != nil {
				implsErr = err
				return
			}
			name := "multus-" + v.Version
			kc, err := k.ServiceAccountKubeconfig(shared.Dir(), "kube-system", name, multusRBAC)
			if err != nil {
				implsErr = err
				return
			}
			impls = append(impls, &impl{name: name, multus: bin, kubeconfig: kc})
		}
		rules, err := testenv.ChartRBACRules()
		if err != nil {
			implsErr = err
			return
		}
		kc, err := k.ServiceAccountKubeconfig(shared.Dir(), "meta-cni-system", "meta-cni", rules)
		if err != nil {
			implsErr = err
			return
		}
		impls = append(impls, &impl{name: "meta-cni", kubeconfig: kc})
	})
	if implsErr != nil {
		t.Fatalf("prepare implementations: %v", implsErr)
	}
	return impls
}

// multusBinDir is a directory holding only a "multus" link to the binary,
// put before the shared plugin directory on the runtime's CNI path.
func multusBinDir(t testing.TB, i *impl) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "multus-bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(i.multus, filepath.Join(dir, "multus")); err != nil {
		t.Fatal(fmt.Errorf("link multus: %w", err))
	}
	return dir
}

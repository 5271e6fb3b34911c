package conformance_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// scenarios is every scenario of the suite; each scenarios_*_test.go file
// adds its group in an init.
var scenarios []*scenario

// TestConformance runs every scenario through each Multus release and
// through meta-cni, and fails on any difference docs/multus-compat.md does
// not declare, and on any declared difference that no longer occurs.
func TestConformance(t *testing.T) {
	declared, err := declaredDifferences()
	if err != nil {
		t.Fatal(err)
	}
	all := implementations(t)
	seen := map[string]bool{}
	spurious := 0
	defer func() {
		if len(seen) == len(scenarios) && !t.Failed() && spurious == 0 {
			t.Errorf("no Multus run sent the NoNetworkFound Event for a clusterNetwork conf that the suite leaves out; remove that normalization")
		}
	}()
	for _, sc := range scenarios {
		if seen[sc.name] {
			t.Fatalf("two scenarios are named %q", sc.name)
		}
		seen[sc.name] = true
		t.Run(sc.name, func(t *testing.T) {
			dir := t.TempDir()
			setupNADs(t, sc, dir)
			obs := map[string]*observation{}
			for _, i := range all {
				t.Run(i.name, func(t *testing.T) {
					reset(t, dir)
					r := newRun(t, sc, i, dir)
					r.createPods()
					obs[i.name] = r.observe()
				})
				if obs[i.name] == nil {
					t.Fatalf("%s did not complete the scenario", i.name)
				}
			}
			meta := obs["meta-cni"]
			for _, o := range obs {
				spurious += o.SpuriousLookups
			}
			if meta.SpuriousLookups > 0 {
				t.Errorf("meta-cni sent %d NoNetworkFound Events about its clusterNetwork conf", meta.SpuriousLookups)
			}
			for _, i := range all {
				if !i.isMultus() {
					continue
				}
				found := map[string]bool{}
				for _, d := range compare(sc.name, i.name, obs[i.name], meta) {
					found[d.key()] = true
					if !declared[d.key()] {
						t.Errorf("undeclared difference from %s in %s:\n%s\n(fix it, or declare `%s` `%s` in %s)",
							i.name, d.aspect, d.detail, sc.name, d.aspect, compatDoc)
					}
				}
				prefix := sc.name + " "
				for key := range declared {
					if strings.HasPrefix(key, prefix) && strings.HasSuffix(key, " "+i.name) && !found[key] {
						t.Errorf("%s declares %q, but meta-cni and %s now agree there: remove the row", compatDoc, key, i.name)
					}
				}
			}
			if sc.meta != nil {
				t.Run("meta-cni's own behaviour", func(t *testing.T) { sc.meta(t, meta) })
			}
		})
	}
}

// setupNADs creates the scenario's NADs once, for every run to share.
func setupNADs(t *testing.T, sc *scenario, dir string) {
	t.Helper()
	k := sharedKube(t)
	r := &run{dir: dir, namespace: sc.namespace()}
	for _, n := range sc.nads {
		namespace := n.namespace
		if namespace == "" {
			namespace = r.namespace
		}
		if err := k.EnsureNamespace(namespace); err != nil {
			t.Fatal(err)
		}
		obj := &nadv1.NetworkAttachmentDefinition{ObjectMeta: metav1.ObjectMeta{Name: n.name, Namespace: namespace},
			Spec: nadv1.NetworkAttachmentDefinitionSpec{Config: r.expand(n.config)}}
		nads := k.NADClientset().K8sCniCncfIoV1().NetworkAttachmentDefinitions(namespace)
		_ = nads.Delete(context.Background(), n.name, metav1.DeleteOptions{})
		if _, err := nads.Create(context.Background(), obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create NAD %s/%s: %v", namespace, n.name, err)
		}
	}
}

// reset empties the scenario's state directory, so each run starts from
// the same files whatever the run before it left.
func reset(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}

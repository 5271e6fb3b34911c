package realnode

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestControllersCreateWhatPodsNeed: with kube-controller-manager running,
// the default ServiceAccount and the kube-root-ca.crt ConfigMap appear,
// which StartKube alone never creates.
func TestControllersCreateWhatPodsNeed(t *testing.T) {
	dir := t.TempDir()
	k, err := testenv.StartNodeKube(filepath.Join(dir, "kube"))
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Dir: dir, Kube: k, Kubeconfig: filepath.Join(dir, "kubeconfig")}
	t.Cleanup(func() { _ = c.Stop() })
	if err := writeKubeconfig(k, c.Kubeconfig); err != nil {
		t.Fatal(err)
	}
	if err := c.startControllers(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		_, err := k.Clientset().CoreV1().ConfigMaps("default").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no kube-root-ca.crt in default: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	state := c.State()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := Leaks(state); err != nil {
		t.Errorf("left on the machine:\n%v", err)
	}
}

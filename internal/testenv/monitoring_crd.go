package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// PrometheusOperatorCRDFiles are the ServiceMonitor and PrometheusRule CRDs
// shipped in the prometheus-operator module that hack/tools/prometheus-operator
// pins, read from the module cache (downloaded and checked against that
// module's go.sum on first use).
func PrometheusOperatorCRDFiles() ([]string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", "github.com/prometheus-operator/prometheus-operator")
	cmd.Dir = filepath.Join(RepoRoot(), "hack", "tools", "prometheus-operator")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("download the prometheus-operator module: %w", err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return nil, fmt.Errorf("locate the prometheus-operator module in %s: %v", out, err)
	}
	dir := filepath.Join(mod.Dir, "example", "prometheus-operator-crd")
	files := []string{
		filepath.Join(dir, "monitoring.coreos.com_servicemonitors.yaml"),
		filepath.Join(dir, "monitoring.coreos.com_prometheusrules.yaml"),
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// InstallPrometheusOperatorCRDs creates the ServiceMonitor and
// PrometheusRule CRDs and waits until the API server serves both kinds.
func (k *Kube) InstallPrometheusOperatorCRDs() error {
	files, err := PrometheusOperatorCRDFiles()
	if err != nil {
		return err
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if _, err := k.Apply(data); err != nil {
			return fmt.Errorf("install CRD %s: %w", filepath.Base(f), err)
		}
	}
	return k.waitServed("monitoring.coreos.com/v1", "servicemonitors", "prometheusrules")
}

// waitServed waits until discovery lists every resource of groupVersion, as
// it does once a new CRD is established.
func (k *Kube) waitServed(groupVersion string, resources ...string) error {
	return waitServedWith(k.AdminConfig(), groupVersion, resources...)
}

// waitServedWith is waitServed with the rights of cfg.
func waitServedWith(cfg *rest.Config, groupVersion string, resources ...string) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		var served []string
		if list, err := dc.ServerResourcesForGroupVersion(groupVersion); err == nil {
			for _, r := range list.APIResources {
				served = append(served, r.Name)
			}
		}
		if !slices.ContainsFunc(resources, func(r string) bool { return !slices.Contains(served, r) }) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s %v not served after 30s (served: %v)", groupVersion, resources, served)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Package examples checks that every example file is one users can apply:
// NAD configs build into delegates whose plugins accept their config, pod
// annotations parse, and the Helm values render.
package examples

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/annotations"
	"github.com/meta-cni/meta-cni/pkg/delegate"
	"github.com/meta-cni/meta-cni/pkg/ipam"
	"github.com/meta-cni/meta-cni/pkg/routing"
)

func files(t *testing.T, pattern string) []string {
	t.Helper()
	matches, err := filepath.Glob(pattern)
	if err != nil || len(matches) == 0 {
		t.Fatalf("no example matches %s", pattern)
	}
	return matches
}

func TestEveryNADExampleBuildsAndEachPluginAcceptsItsConfig(t *testing.T) {
	for _, file := range files(t, "nad-*.yaml") {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var nad nadv1.NetworkAttachmentDefinition
			if err := yaml.UnmarshalStrict(data, &nad); err != nil {
				t.Fatalf("decode: %v", err)
			}
			d, err := delegate.Build(nad.Namespace+"/"+nad.Name, nad.Name, "net1", []byte(nad.Spec.Config), "1.1.0", delegate.Request{})
			if err != nil {
				t.Fatalf("build delegate: %v", err)
			}
			var list struct {
				Name       string           `json:"name"`
				CNIVersion string           `json:"cniVersion"`
				Plugins    []map[string]any `json:"plugins"`
			}
			if err := json.Unmarshal(d.ConfList, &list); err != nil {
				t.Fatal(err)
			}
			for i, plugin := range list.Plugins {
				plugin["name"], plugin["cniVersion"] = list.Name, list.CNIVersion
				conf, _ := json.Marshal(plugin)
				if ipamConf, ok := plugin["ipam"].(map[string]any); ok && ipamConf["type"] == "etcd-ipam" {
					if _, err := ipam.ParseConfig(conf, ""); err != nil {
						t.Errorf("plugins[%d].ipam: etcd-ipam rejects it: %v", i, err)
					}
				}
				if plugin["type"] == "host-route" {
					plugin["prevResult"] = map[string]any{"cniVersion": list.CNIVersion,
						"ips": []any{map[string]any{"address": "10.10.20.53/24"}}}
					conf, _ = json.Marshal(plugin)
					if _, err := routing.ParseConfig(conf); err != nil {
						t.Errorf("plugins[%d]: host-route rejects it: %v", i, err)
					}
				}
			}
		})
	}
}

func TestEveryPodExampleAnnotationParses(t *testing.T) {
	for _, file := range files(t, "pod-*.yaml") {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var pod corev1.Pod
			if err := yaml.UnmarshalStrict(data, &pod); err != nil {
				t.Fatalf("decode: %v", err)
			}
			asked := false
			if v, ok := pod.Annotations[annotations.NetworksKey]; ok {
				asked = true
				if _, err := annotations.ParseNetworks(v, pod.Namespace); err != nil {
					t.Error(err)
				}
			}
			if v, ok := pod.Annotations[annotations.DefaultNetworkKey]; ok {
				asked = true
				if _, _, err := annotations.ParseDefaultNetwork(v, pod.Namespace); err != nil {
					t.Error(err)
				}
			}
			if !asked {
				t.Error("the example asks for no network")
			}
		})
	}
}

func TestHelmValuesExampleRenders(t *testing.T) {
	out, err := testenv.Helm("template", "meta-cni", filepath.Join(testenv.RepoRoot(), "charts", "meta-cni"),
		"--kube-version", "1.34.0", "-f", "values-underlay.yaml",
		"--set", "etcd.tls.ca=CA", "--set", "etcd.tls.cert=CERT", "--set", "etcd.tls.key=KEY")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"clusterNetwork": "cbr0"`) || !strings.Contains(string(out), "endpoints: \"https://10.10.20.152:2379\"") {
		t.Errorf("rendered chart lacks the values:\n%s", out)
	}
}

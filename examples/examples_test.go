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

// The static pod asks for an address its network's etcd-ipam accepts: one
// outside the dynamic range needs the NAD to opt in.
func TestStaticPodExampleAddressIsAcceptedByItsNetwork(t *testing.T) {
	var pod corev1.Pod
	var nad nadv1.NetworkAttachmentDefinition
	for file, v := range map[string]any{"pod-static-ip.yaml": &pod, "nad-macvlan-etcd-ipam.yaml": &nad} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(data, v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	sels, err := annotations.ParseNetworks(pod.Annotations[annotations.NetworksKey], pod.Namespace)
	if err != nil || len(sels) != 1 || sels[0].Name != nad.Name || len(sels[0].IPs) == 0 {
		t.Fatalf("pod-static-ip.yaml asks for %+v (%v), want static IPs on %s", sels, err, nad.Name)
	}
	var list struct {
		Plugins []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal([]byte(nad.Spec.Config), &list); err != nil {
		t.Fatal(err)
	}
	plugin := list.Plugins[0]
	plugin["name"], plugin["cniVersion"] = nad.Name, "1.0.0"
	plugin["runtimeConfig"] = map[string]any{"ips": sels[0].IPs}
	conf, _ := json.Marshal(plugin)
	cfg, err := ipam.ParseConfig(conf, "")
	if err != nil {
		t.Fatalf("etcd-ipam refuses the pod's %v: %v", sels[0].IPs, err)
	}
	if len(cfg.Static) != 1 {
		t.Fatalf("static = %v", cfg.Static)
	}
}

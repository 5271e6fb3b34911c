package soak

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

const (
	chartRelease   = "meta-cni"
	chartNamespace = "meta-cni-system"
)

// chart is the Helm chart rendered for one node: every host path it
// names (cni.binDir, cni.confDir, config.cacheDir, config.logFile,
// nodeAPI.runDir) set under the node's root, as a user sets them for a
// node whose paths differ from the defaults.
type chart struct {
	objects   []*unstructured.Unstructured
	daemonSet *appsv1.DaemonSet
	// volumeData is the content of each ConfigMap and Secret by name.
	volumeData map[string]map[string]string
}

// chartValues are the --set values for a node rooted at root.
func chartValues(root string, etcd []string) []string {
	return []string{
		"cni.binDir=" + filepath.Join(root, "/opt/cni/bin"),
		"cni.confDir=" + filepath.Join(root, "/etc/cni/net.d"),
		"config.cacheDir=" + filepath.Join(root, "/var/lib/meta-cni"),
		"config.logFile=" + filepath.Join(root, "/var/log/meta-cni.log"),
		"nodeAPI.runDir=" + filepath.Join(root, "/run/meta-cni"),
		"etcd.endpoints={" + strings.Join(etcd, ",") + "}",
	}
}

// renderChart runs `helm template` on charts/meta-cni with the node's values.
func renderChart(root string, etcd []string) (*chart, error) {
	args := []string{"template", chartRelease, filepath.Join(testenv.RepoRoot(), "charts", "meta-cni"),
		"--namespace", chartNamespace, "--kube-version", "1.34.0"}
	for _, v := range chartValues(root, etcd) {
		args = append(args, "--set", v)
	}
	out, err := testenv.Helm(args...)
	if err != nil {
		return nil, err
	}
	c := &chart{volumeData: map[string]map[string]string{}}
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("decode rendered chart: %w", err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		c.objects = append(c.objects, obj)
		switch obj.GetKind() {
		case "DaemonSet":
			c.daemonSet = &appsv1.DaemonSet{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, c.daemonSet); err != nil {
				return nil, fmt.Errorf("rendered DaemonSet: %w", err)
			}
		case "ConfigMap":
			var cm corev1.ConfigMap
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &cm); err != nil {
				return nil, fmt.Errorf("rendered ConfigMap: %w", err)
			}
			c.volumeData["configmap/"+cm.Name] = cm.Data
		case "Secret":
			var s corev1.Secret
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &s); err != nil {
				return nil, fmt.Errorf("rendered Secret: %w", err)
			}
			data := map[string]string{}
			for k, v := range s.StringData {
				data[k] = v
			}
			for k, v := range s.Data {
				data[k] = string(v)
			}
			c.volumeData["secret/"+s.Name] = data
		}
	}
	if c.daemonSet == nil {
		return nil, errors.New("rendered chart has no DaemonSet")
	}
	return c, nil
}

// clusterObjects is the chart's YAML without the per-node objects (the
// DaemonSet, which the harness runs itself, and the ConfigMap, which
// differs by node): the ServiceAccount, RBAC and the etcd Secret.
func (c *chart) clusterObjects() ([]byte, error) {
	var buf bytes.Buffer
	for _, obj := range c.objects {
		if k := obj.GetKind(); k == "DaemonSet" || k == "ConfigMap" {
			continue
		}
		b, err := sigsyaml.Marshal(obj.Object)
		if err != nil {
			return nil, err
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// podProcess is the DaemonSet's one container run as a process on a node,
// the way the kubelet would run it: its volumes made real, its args and
// env resolved.
type podProcess struct {
	argv []string
	env  []string
}

// podInputs is what the kubelet and the image supply to the container.
type podInputs struct {
	dir       string            // where the pod's ConfigMap, Secret and token volumes go
	image     map[string]string // a path in the image -> the file or dir standing for it
	node      string
	namespace string
	token, ca []byte
}

// saMount is where the kubelet projects the ServiceAccount token.
const saMount = "/var/run/secrets/kubernetes.io/serviceaccount"

// process resolves the DaemonSet's container into a process: every
// volume mount becomes the real directory (hostPath as is, ConfigMap and
// Secret written out), and each argument naming a path under a mount or
// in the image is rewritten to the real one. The kubelet's projected
// token is one mount the container reads by default path, so its two
// files are passed by flag.
func (c *chart) process(in podInputs) (*podProcess, error) {
	spec := c.daemonSet.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		return nil, fmt.Errorf("DaemonSet has %d containers, the harness runs one", len(spec.Containers))
	}
	ctr := spec.Containers[0]
	mounts := map[string]string{}
	for k, v := range in.image {
		mounts[k] = v
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	for _, m := range ctr.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			return nil, fmt.Errorf("volume mount %s names no volume", m.Name)
		}
		switch {
		case v.HostPath != nil:
			if err := os.MkdirAll(v.HostPath.Path, 0o755); err != nil {
				return nil, err
			}
			mounts[m.MountPath] = v.HostPath.Path
		case v.ConfigMap != nil:
			dir, err := writeVolume(filepath.Join(in.dir, m.Name), c.volumeData["configmap/"+v.ConfigMap.Name], 0o644)
			if err != nil {
				return nil, err
			}
			mounts[m.MountPath] = dir
		case v.Secret != nil:
			dir, err := writeVolume(filepath.Join(in.dir, m.Name), c.volumeData["secret/"+v.Secret.SecretName], 0o400)
			if err != nil {
				return nil, err
			}
			mounts[m.MountPath] = dir
		default:
			return nil, fmt.Errorf("volume %s: only hostPath, configMap and secret volumes are run", m.Name)
		}
	}
	sa, err := writeVolume(filepath.Join(in.dir, "serviceaccount"), map[string]string{"token": string(in.token), "ca.crt": string(in.ca)}, 0o600)
	if err != nil {
		return nil, err
	}
	mounts[saMount] = sa
	p := &podProcess{}
	for _, a := range append(append([]string{}, ctr.Command...), ctr.Args...) {
		p.argv = append(p.argv, resolveArg(a, mounts))
	}
	p.argv = append(p.argv, "--token-file="+filepath.Join(sa, "token"), "--ca-file="+filepath.Join(sa, "ca.crt"))
	for _, e := range ctr.Env {
		value := e.Value
		if f := e.ValueFrom; f != nil && f.FieldRef != nil {
			switch f.FieldRef.FieldPath {
			case "spec.nodeName":
				value = in.node
			case "metadata.namespace":
				value = in.namespace
			default:
				return nil, fmt.Errorf("env %s: field %s is not supplied by the harness", e.Name, f.FieldRef.FieldPath)
			}
		}
		p.env = append(p.env, e.Name+"="+value)
	}
	p.env = append(p.env, "KUBERNETES_SERVICE_HOST="+testenv.KubeServiceIP, "KUBERNETES_SERVICE_PORT=443", "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	return p, nil
}

// resolveArg rewrites a path argument ("/x/y" or "--flag=/x/y") whose
// path lies under a mount, the longest mount first.
func resolveArg(arg string, mounts map[string]string) string {
	prefix, value := "", arg
	if i := strings.IndexByte(arg, '='); strings.HasPrefix(arg, "-") && i > 0 {
		prefix, value = arg[:i+1], arg[i+1:]
	}
	keys := make([]string, 0, len(mounts))
	for k := range mounts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		if value == k || strings.HasPrefix(value, k+"/") {
			return prefix + mounts[k] + strings.TrimPrefix(value, k)
		}
	}
	return arg
}

// writeVolume writes a ConfigMap's or Secret's keys as files in dir.
func writeVolume(dir string, data map[string]string, mode os.FileMode) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for k, v := range data {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), mode); err != nil {
			return "", fmt.Errorf("write volume file %s: %w", k, err)
		}
	}
	return dir, nil
}

package testenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
)

// ReferenceMultus is the Multus release of the reference install: the one
// issue 10 names, thin plugin.
const ReferenceMultus = "v4.2.3"

// ReferenceNode is one simulated node of the reference install (Multus
// thin + Whereabouts), in plain paths: where the node's /opt/cni/bin,
// /etc/cni/net.d and /var/lib/cni/multus are.
type ReferenceNode struct {
	Name    string // the node's name, for errors
	BinDir  string // the runtime's CNI_PATH on this node
	ConfDir string // the runtime's conf dir: 00-multus.conf(list) goes here
	// CacheDir is Multus's delegate cache (its "cniDir",
	// /var/lib/cni/multus on a real node).
	CacheDir string
	// ClusterNetwork is the path of the cluster network's conf or
	// conflist, which Multus's auto mode takes as its one delegate.
	ClusterNetwork string
	// MultusKubeconfig and WhereaboutsKubeconfig are their ServiceAccounts'
	// identities (ReferenceCluster's); each daemonset writes its own copy
	// into the node's conf dir, and so does InstallReferenceNode.
	MultusKubeconfig      string
	WhereaboutsKubeconfig string
	// LogFile, when set, is Multus's "logFile" (at "verbose"); its
	// daemonset sets none and Multus logs to stderr, which the runtime
	// drops.
	LogFile string
}

// referencePlugins are the binaries a reference node gets besides Multus
// and Whereabouts: the plugins of the cluster network and of the extra
// network, and meta-cni's host-route, so a reference NAD can chain the
// same per-pod work as meta-cni's.
func referencePlugins() []string {
	names := []string{"host-route"}
	for _, pkg := range ReferencePlugins {
		names = append(names, path.Base(pkg))
	}
	return names
}

// InstallReferenceNode does on one node what Multus's thin daemonset
// (--multus-conf-file=auto) and Whereabouts' daemonset do: it puts
// multus, whereabouts and the reference plugins into BinDir (hard links
// where it can), their
// kubeconfigs into ConfDir/multus.d and ConfDir/whereabouts.d with
// Whereabouts' flat file, and last Multus's conf, whose one delegate is
// the cluster network. It returns the path of Multus's conf, the one the
// runtime runs.
func InstallReferenceNode(n ReferenceNode) (string, error) {
	if err := installReferenceBinaries(n); err != nil {
		return "", fmt.Errorf("install the reference binaries on node %s: %w", n.Name, err)
	}
	multusKubeconfig := filepath.Join(n.ConfDir, "multus.d", "multus.kubeconfig")
	if err := copyFileAtomic(n.MultusKubeconfig, multusKubeconfig, 0o600); err != nil {
		return "", fmt.Errorf("write Multus's kubeconfig on node %s: %w", n.Name, err)
	}
	wbDir := filepath.Join(n.ConfDir, "whereabouts.d")
	wbKubeconfig := filepath.Join(wbDir, "whereabouts.kubeconfig")
	if err := copyFileAtomic(n.WhereaboutsKubeconfig, wbKubeconfig, 0o600); err != nil {
		return "", fmt.Errorf("write Whereabouts' kubeconfig on node %s: %w", n.Name, err)
	}
	if _, err := writeWhereaboutsConf(wbDir, wbKubeconfig); err != nil {
		return "", fmt.Errorf("write Whereabouts' flat file on node %s: %w", n.Name, err)
	}
	conf, err := writeMultusConf(n, multusKubeconfig)
	if err != nil {
		return "", fmt.Errorf("write Multus's conf on node %s: %w", n.Name, err)
	}
	return conf, nil
}

func installReferenceBinaries(n ReferenceNode) error {
	v := slices.IndexFunc(MultusVersions, func(m MultusVersion) bool { return m.Version == ReferenceMultus })
	if v < 0 {
		return fmt.Errorf("Multus %s is not among testenv.MultusVersions", ReferenceMultus)
	}
	multus, err := MultusBinary(MultusVersions[v])
	if err != nil {
		return err
	}
	wb, err := WhereaboutsBinary()
	if err != nil {
		return err
	}
	plugins, err := CNIPath()
	if err != nil {
		return err
	}
	bins := map[string]string{"multus": multus, "whereabouts": wb}
	for _, name := range referencePlugins() {
		bins[name] = filepath.Join(plugins, name)
	}
	for _, name := range slices.Sorted(maps.Keys(bins)) {
		if err := linkOrCopyAtomic(bins[name], filepath.Join(n.BinDir, name)); err != nil {
			return err
		}
	}
	return nil
}

// linkOrCopyAtomic puts a hard link to src at dst, or a copy where src is
// on another filesystem: ten nodes would otherwise hold ten copies of
// Multus (68 MB) and Whereabouts, in page cache too. Either way dst
// appears whole, by rename.
func linkOrCopyAtomic(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".link")
	os.Remove(tmp)
	if os.Link(src, tmp) == nil {
		err := os.Rename(tmp, dst)
		// rename(2) of one hard link over another of the same file does
		// nothing, leaving tmp behind.
		os.Remove(tmp)
		if err != nil {
			return fmt.Errorf("install %s: %w", dst, err)
		}
		return nil
	}
	return copyFileAtomic(src, dst, 0o755)
}

// writeMultusConf writes what Multus's thin entrypoint generates in auto
// mode from the cluster network's conf: a conflist when that conf is CNI
// 1.0.0, a conf otherwise, with the delegate's capabilities lifted, named
// 00-multus.conf(list) so it sorts first.
func writeMultusConf(n ReferenceNode, kubeconfig string) (string, error) {
	data, err := os.ReadFile(n.ClusterNetwork)
	if err != nil {
		return "", fmt.Errorf("read the cluster network's conf: %w", err)
	}
	var master map[string]any
	if err := json.Unmarshal(data, &master); err != nil {
		return "", fmt.Errorf("parse the cluster network's conf %s: %w", n.ClusterNetwork, err)
	}
	version, _ := master["cniVersion"].(string)
	if version == "" {
		return "", fmt.Errorf("the cluster network's conf %s has no cniVersion", n.ClusterNetwork)
	}
	plugin := map[string]any{
		"type": "multus",
		// Host paths a real node has at Multus's defaults (/etc/cni/multus/net.d,
		// /opt/cni/bin, /var/lib/cni/multus) are the node's directories here.
		"cniConf":    filepath.Join(filepath.Dir(n.ConfDir), "multus", "net.d"),
		"binDir":     n.BinDir,
		"cniDir":     n.CacheDir,
		"kubeconfig": kubeconfig,
		"delegates":  []any{master},
	}
	if caps := delegateCapabilities(master); len(caps) > 0 {
		plugin["capabilities"] = caps
	}
	if n.LogFile != "" {
		plugin["logFile"], plugin["logLevel"], plugin["logToStderr"] = n.LogFile, "verbose", false
	}
	name, conf := "00-multus.conf", map[string]any{"cniVersion": version, "name": "multus-cni-network"}
	if version == "1.0.0" {
		name, conf["plugins"] = "00-multus.conflist", []any{plugin}
	} else {
		maps.Copy(conf, plugin)
	}
	out, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return "", err
	}
	dst := filepath.Join(n.ConfDir, name)
	return dst, writeFileAtomic(dst, out, 0o600)
}

// delegateCapabilities gathers the capabilities of a conf, or of every
// plugin of a conflist, as Multus's entrypoint does.
func delegateCapabilities(master map[string]any) map[string]bool {
	caps := map[string]bool{}
	confs := []any{master}
	if plugins, ok := master["plugins"].([]any); ok {
		confs = plugins
	}
	for _, c := range confs {
		m, _ := c.(map[string]any)
		capMap, _ := m["capabilities"].(map[string]any)
		for k, v := range capMap {
			if b, ok := v.(bool); ok {
				caps[k] = b
			}
		}
	}
	return caps
}

// writeWhereaboutsConf writes Whereabouts' flat file, whereabouts.conf in
// dir, as its install script does: the datastore, its kubeconfig, and the
// reconciler's default schedule. Whereabouts v0.9.2 refuses to run
// without a flat file, even when the NAD holds every field.
func writeWhereaboutsConf(dir, kubeconfig string) (string, error) {
	out, err := json.MarshalIndent(map[string]any{
		"datastore":                  "kubernetes",
		"kubernetes":                 map[string]string{"kubeconfig": kubeconfig},
		"reconciler_cron_expression": "30 4 * * *",
	}, "", "  ")
	if err != nil {
		return "", err
	}
	dst := filepath.Join(dir, "whereabouts.conf")
	return dst, writeFileAtomic(dst, out, 0o600)
}

// WhereaboutsIPAM is the "ipam" section of a NAD that allocates from rng
// (a CIDR, or "first-last/prefix") with Whereabouts. kubeconfig is
// ReferenceCluster.WhereaboutsKubeconfig: one NAD serves every node, and
// the simulated nodes' conf dirs differ, so the NAD names the cluster's
// copy of the kubeconfig and the flat file beside it (Whereabouts reads
// /etc/cni/net.d/whereabouts.d/whereabouts.conf on a real node).
func WhereaboutsIPAM(rng, kubeconfig string) map[string]any {
	return map[string]any{
		"type":               "whereabouts",
		"range":              rng,
		"kubernetes":         map[string]string{"kubeconfig": kubeconfig},
		"configuration_path": filepath.Join(filepath.Dir(kubeconfig), "whereabouts.conf"),
	}
}

// copyFileAtomic copies src to dst through a temporary file and a rename,
// as the daemonsets do, so a runtime never runs a half-written binary.
func copyFileAtomic(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeAtomic(dst, mode, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

func writeFileAtomic(dst string, data []byte, mode os.FileMode) error {
	return writeAtomic(dst, mode, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

func writeAtomic(dst string, mode os.FileMode, fill func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-")
	if err != nil {
		return err
	}
	err = errors.Join(fill(tmp), tmp.Chmod(mode), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return nil
}

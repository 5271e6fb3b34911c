package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// selfName is the daemon's own binary, which may sit next to the plugins in
// the image but is no CNI plugin, so it is not copied to the host.
const selfName = "meta-cni-daemon"

// Install puts everything the runtime and the plugin need on the host, in
// an order that never lets a runtime see meta-cni's conflist before the
// binaries and credentials it names are in place. The conflist is checked
// first, so a bad ConfigMap changes nothing on the node. A conflist that
// leaves the cluster network to the daemon is installed once the conf dir
// holds a cluster network conf, polling for it.
func (d *Daemon) Install() error { return d.install(context.Background(), nil) }

// install is Install, waiting for the cluster network's conf until ctx is
// done, and re-reading the conf dir on each signal of changes (or every
// confDirPoll when changes is nil).
func (d *Daemon) install(ctx context.Context, changes <-chan struct{}) error {
	start := time.Now()
	server, err := d.cfg.apiServerURL()
	if err != nil {
		return err
	}
	in := d.conflistInputs()
	conflist, auto, err := prepareConflist(d.cfg.ConfFile, in)
	if err != nil {
		return err
	}
	if in.node == "" {
		d.log.Warn("NODE_NAME is not set: the conflist names no nodeName, so etcd-ipam on this node refuses GC; set it from spec.nodeName, as the chart does")
	}
	token, err := os.ReadFile(d.cfg.TokenFile)
	if err != nil {
		return fmt.Errorf("read ServiceAccount token: %w", err)
	}
	ca, err := os.ReadFile(d.cfg.CAFile)
	if err != nil {
		return fmt.Errorf("read API server CA: %w", err)
	}
	if err := d.installBinaries(); err != nil {
		return err
	}
	if err := d.installCredentials(server, token, ca); err != nil {
		return err
	}
	if err := d.installEtcdSecret(); err != nil {
		return err
	}
	clusterNetwork := "as configured"
	if auto {
		if changes == nil {
			pctx, stopPoll := context.WithCancel(ctx)
			defer stopPoll()
			changes = pollSignal(pctx, confDirPoll)
		}
		c, err := d.waitClusterConf(ctx, changes)
		if err != nil {
			return err
		}
		in.cluster = &c
		if conflist, _, err = prepareConflist(d.cfg.ConfFile, in); err != nil {
			return err
		}
		d.cluster = &c
		clusterNetwork = d.hostConfPath(c.name)
		d.warnIfShadowed(c)
	}
	path := d.cfg.conflistPath()
	if _, err := d.writeIfChanged(path, conflist, 0o644); err != nil {
		return fmt.Errorf("install conflist %s: %w", path, err)
	}
	d.installedAt.Store(time.Now().UnixNano())
	d.log.Info("installed", "path", path, "kubeconfig", d.cfg.HostKubeconfigPath(), "clusterNetwork", clusterNetwork, "duration", time.Since(start))
	return nil
}

// pollSignal signals every interval until ctx is done.
func pollSignal(ctx context.Context, every time.Duration) <-chan struct{} {
	c := make(chan struct{})
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				select {
				case c <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return c
}

// installBinaries copies each plugin binary through a temp file and a
// rename, so a runtime never execs a half-written file; identical binaries
// are left alone.
func (d *Daemon) installBinaries() error {
	src, dst := d.cfg.SourceBinDir, d.cfg.CNIBinDir
	names, err := regularFiles(src)
	if err != nil {
		return fmt.Errorf("list binaries in %s: %w", src, err)
	}
	if len(names) == 0 {
		return fmt.Errorf("list binaries in %s: no files to install", src)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("create CNI bin dir %s: %w", dst, err)
	}
	if err := removeStaleTemps(dst); err != nil {
		return fmt.Errorf("clean CNI bin dir %s: %w", dst, err)
	}
	var copied, skipped int
	for _, name := range names {
		if name == selfName {
			continue
		}
		ok, err := d.installBinary(filepath.Join(src, name), filepath.Join(dst, name))
		if err != nil {
			return fmt.Errorf("install binary %s into %s: %w", name, dst, err)
		}
		if ok {
			copied++
		} else {
			skipped++
		}
	}
	d.log.Info("installed binaries", "dir", dst, "copied", copied, "unchanged", skipped)
	return nil
}

// installBinary reports whether it copied src, as opposed to finding an
// identical file already in place.
func (d *Daemon) installBinary(src, dst string) (bool, error) {
	same, err := sameFile(src, dst)
	if err != nil {
		return false, err
	}
	if same {
		fi, err := os.Stat(dst)
		if err != nil {
			return false, err
		}
		if fi.Mode().Perm() == 0o755 {
			return false, nil
		}
		return false, os.Chmod(dst, 0o755)
	}
	f, err := os.Open(src)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := writeAtomicFrom(dst, f, 0o755); err != nil {
		return false, err
	}
	d.written(dst)
	return true, nil
}

// installCredentials writes the token, the CA and a kubeconfig naming both
// by their host paths: the plugin runs on the host, not in this container.
func (d *Daemon) installCredentials(server string, token, ca []byte) error {
	dir := d.cfg.credDir()
	if err := privateDir(dir); err != nil {
		return fmt.Errorf("create credentials dir %s: %w", dir, err)
	}
	if err := removeStaleTemps(dir); err != nil {
		return fmt.Errorf("clean credentials dir %s: %w", dir, err)
	}
	host := d.cfg.hostCredDir()
	kc, err := renderKubeconfig(server, filepath.Join(host, caName), filepath.Join(host, tokenName))
	if err != nil {
		return fmt.Errorf("render kubeconfig: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{tokenName, token}, {caName, ca}, {kubeconfigName, kc}} {
		path := filepath.Join(dir, f.name)
		if _, err := d.writeIfChanged(path, f.data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

// installEtcdSecret copies the etcd client's TLS files and endpoints, when
// the chart mounts them, to where etcd-ipam configs on the host expect them.
func (d *Daemon) installEtcdSecret() error {
	src := d.cfg.EtcdSecretDir
	if src == "" {
		return nil
	}
	names, err := regularFiles(src)
	if errors.Is(err, os.ErrNotExist) {
		d.log.Debug("no etcd secret mounted", "dir", src)
		return nil
	}
	if err != nil {
		return fmt.Errorf("list etcd secret %s: %w", src, err)
	}
	if len(names) == 0 {
		// An optional Secret that does not exist is mounted as an empty dir.
		return nil
	}
	dst := filepath.Join(d.cfg.credDir(), etcdDirName)
	if err := privateDir(dst); err != nil {
		return fmt.Errorf("create etcd secret dir %s: %w", dst, err)
	}
	if err := removeStaleTemps(dst); err != nil {
		return fmt.Errorf("clean etcd secret dir %s: %w", dst, err)
	}
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return fmt.Errorf("read etcd secret file: %w", err)
		}
		if _, err := d.writeIfChanged(filepath.Join(dst, name), data, 0o600); err != nil {
			return fmt.Errorf("write etcd secret file %s: %w", filepath.Join(dst, name), err)
		}
	}
	return nil
}

// writeIfChanged writes path atomically unless it already holds data with
// mode, and reports whether it wrote.
func (d *Daemon) writeIfChanged(path string, data []byte, mode os.FileMode) (bool, error) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() == mode && sameContent(path, data) {
		return false, nil
	}
	if err := writeAtomic(path, data, mode); err != nil {
		return false, err
	}
	d.written(path)
	return true, nil
}

// Uninstall removes the conflist, so the runtime stops calling meta-cni.
// Binaries and credentials stay: pods still being deleted need them.
func (d *Daemon) Uninstall() error {
	path := d.cfg.conflistPath()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove conflist %s: %w", path, err)
	}
	d.log.Info("removed conflist", "path", path)
	return nil
}

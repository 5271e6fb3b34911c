package daemon

import (
	"fmt"
	"os"
	"path/filepath"
)

// RefreshCredentials copies the projected ServiceAccount token again when
// the kubelet has rotated it, and the CA and etcd files when their Secret
// changed. The plugin's kubeconfig names the token by path, so the next
// plugin run uses the new one.
func (d *Daemon) RefreshCredentials() {
	if err := d.refreshToken(); err != nil {
		d.tokenRefreshErrors.Add(1)
		d.log.Error("refresh token", "err", err)
	}
	if err := d.refreshFile(d.cfg.CAFile, filepath.Join(d.cfg.credDir(), caName)); err != nil {
		d.log.Error("refresh API server CA", "err", err)
	}
	if err := d.installEtcdSecret(); err != nil {
		d.log.Error("refresh etcd secret", "err", err)
	}
}

func (d *Daemon) refreshToken() error {
	dst := filepath.Join(d.cfg.credDir(), tokenName)
	token, err := os.ReadFile(d.cfg.TokenFile)
	if err != nil {
		return fmt.Errorf("read ServiceAccount token: %w", err)
	}
	if len(token) == 0 {
		return fmt.Errorf("read ServiceAccount token %s: file is empty", d.cfg.TokenFile)
	}
	wrote, err := d.writeIfChanged(dst, token, 0o600)
	if err != nil {
		return fmt.Errorf("write token %s: %w", dst, err)
	}
	if wrote {
		d.tokenRefreshes.Add(1)
		d.log.Info("token rotated", "path", dst)
	}
	return nil
}

func (d *Daemon) refreshFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if _, err := d.writeIfChanged(dst, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return nil
}

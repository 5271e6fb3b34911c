package daemon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// waitRemind is how often a daemon still waiting for the cluster network's
// conf says so again.
const waitRemind = 30 * time.Second

// ClusterNetworkTimeoutError is the daemon giving up waiting for the
// cluster network's conf; it exits, and the kubelet restarts it.
type ClusterNetworkTimeoutError struct {
	Dir     string
	Waited  time.Duration
	ConfErr error // why the first candidate was unusable, if one existed
}

func (e *ClusterNetworkTimeoutError) Error() string {
	msg := fmt.Sprintf("no cluster network conf (*.conf, *.conflist or *.json other than meta-cni's) in %s after %s: install the cluster network plugin, or name one with the chart's config.clusterNetwork", e.Dir, e.Waited.Round(time.Second))
	if e.ConfErr != nil {
		msg += "; the first candidate is unusable: " + e.ConfErr.Error()
	}
	return msg
}

// waitClusterConf returns the conf dir's cluster network conf, waiting for
// one to appear for at most --cluster-network-timeout (0: for ever). The
// runtime has no network for pods meanwhile anyway; installing meta-cni's
// conflist earlier would only make every pod ADD fail.
func (d *Daemon) waitClusterConf(ctx context.Context, changes <-chan struct{}) (clusterConf, error) {
	start := time.Now()
	var deadline <-chan time.Time
	if t := d.cfg.ClusterNetworkTimeout; t > 0 {
		timer := time.NewTimer(t)
		defer timer.Stop()
		deadline = timer.C
	}
	remind := time.NewTicker(waitRemind)
	defer remind.Stop()
	logged := false
	for {
		c, found, err := firstClusterConf(d.cfg.CNIConfDir, d.cfg.ConfName)
		if found {
			if logged {
				d.log.Info("cluster network conf appeared", "conf", d.hostConfPath(c.name), "waited", time.Since(start).Round(time.Millisecond))
			}
			return c, nil
		}
		if err != nil && !errors.As(err, new(*ClusterConfError)) {
			return clusterConf{}, err
		}
		if !logged {
			d.log.Info("waiting for the cluster network's conf: the first *.conf, *.conflist or *.json in the conf dir, by name, other than meta-cni's",
				"dir", d.cfg.HostCNIConfDir, "skip", d.cfg.ConfName, "timeout", d.cfg.ClusterNetworkTimeout, "unusable", errString(err))
			logged = true
		}
		select {
		case <-ctx.Done():
			return clusterConf{}, fmt.Errorf("wait for the cluster network's conf in %s: %w", d.cfg.HostCNIConfDir, context.Cause(ctx))
		case <-deadline:
			return clusterConf{}, &ClusterNetworkTimeoutError{Dir: d.cfg.HostCNIConfDir, Waited: time.Since(start), ConfErr: err}
		case <-remind.C:
			d.log.Info("still waiting for the cluster network's conf", "dir", d.cfg.HostCNIConfDir, "waited", time.Since(start).Round(time.Second), "unusable", errString(err))
		case <-changes:
		}
	}
}

// syncClusterConf rewrites meta-cni's conflist when the conf dir's cluster
// network conf is another file, or declares other capabilities, than the
// one it names. With no conf left, it keeps the conflist: pods being
// deleted still need meta-cni, and a cluster network's upgrade often
// removes its conf just before writing the new one.
func (d *Daemon) syncClusterConf() {
	c, found, err := firstClusterConf(d.cfg.CNIConfDir, d.cfg.ConfName)
	if err != nil {
		d.log.Warn("cluster network conf not usable; keeping the installed conflist", "err", err)
		return
	}
	if !found {
		if !d.clusterGone {
			d.log.Warn("no cluster network conf left in the conf dir; keeping the installed conflist until one appears",
				"dir", d.cfg.HostCNIConfDir, "conflist names", d.hostConfPath(d.cluster.fileName()))
			d.clusterGone = true
		}
		return
	}
	d.clusterGone = false
	if c.equal(d.cluster) {
		return
	}
	in := d.conflistInputs()
	in.cluster = &c
	conflist, _, err := prepareConflist(d.cfg.ConfFile, in)
	if err != nil {
		d.log.Error("render conflist for the new cluster network conf", "conf", d.hostConfPath(c.name), "err", err)
		return
	}
	path := d.cfg.conflistPath()
	if _, err := d.writeIfChanged(path, conflist, 0o644); err != nil {
		d.log.Error("rewrite conflist for the new cluster network conf", "path", path, "err", err)
		return
	}
	d.log.Info("cluster network conf changed: conflist rewritten", "path", path,
		"from", d.hostConfPath(d.cluster.fileName()), "to", d.hostConfPath(c.name), "capabilities", c.capabilities)
	d.cluster = &c
	d.warnIfShadowed(c)
}

// warnIfShadowed says when the runtime, which loads the conf dir's first
// conf, would load the cluster network's conf instead of meta-cni's.
func (d *Daemon) warnIfShadowed(c clusterConf) {
	if c.name < d.cfg.ConfName {
		d.log.Warn("the cluster network's conf sorts before meta-cni's, so the runtime loads it and never calls meta-cni: give meta-cni's conflist a name that sorts first (the chart's cni.confName)",
			"conf", d.hostConfPath(c.name), "conflist", d.cfg.ConfName)
	}
}

// autoClusterNetwork says whether the chart's conflist leaves the cluster
// network to the daemon; a conflist that does not parse is install's to
// report.
func (d *Daemon) autoClusterNetwork() bool {
	_, auto, err := prepareConflist(d.cfg.ConfFile, d.conflistInputs())
	return err == nil && auto
}

func (d *Daemon) hostConfPath(name string) string { return filepath.Join(d.cfg.HostCNIConfDir, name) }

func (d *Daemon) conflistInputs() conflistInputs {
	return conflistInputs{kubeconfig: d.cfg.HostKubeconfigPath(), socket: d.cfg.NodeAPISocket,
		node: d.cfg.nodeName(), hostConfDir: d.cfg.HostCNIConfDir}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return strings.TrimSpace(err.Error())
}

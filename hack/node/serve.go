package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/internal/testenv/realnode"
)

// supervisor is what `serve` records in state.json for `down`.
type supervisor struct {
	PID   int            `json:"pid"`
	State realnode.State `json:"state"`
}

func statePath(dir string) string { return filepath.Join(dir, "state.json") }
func envPath(dir string) string   { return filepath.Join(dir, "env") }

// serve brings the cluster up, writes state.json and env, and holds the
// cluster until SIGTERM or SIGINT, then tears it down with the code the
// tests use.
func serve(dir string) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	images, workload, err := realnode.NodeImages()
	if err != nil {
		return err
	}
	// A kubectl of the cluster's version, for machines that have none.
	kubectl, err := testenv.KubectlBinary()
	if err != nil {
		return err
	}
	// A home for examples/: `kubectl apply -f examples/...` works unchanged.
	c, err := realnode.Start(realnode.Options{Dir: filepath.Join(dir, "cluster"), Nodes: nodeCount(), Images: images, Examples: true})
	if err != nil {
		return err
	}
	if os.Getenv("NODE_CHART") != "0" {
		if err := c.InstallChart(); err != nil {
			return errors.Join(err, c.Stop())
		}
	}
	sup := supervisor{PID: os.Getpid(), State: c.State()}
	b, _ := json.MarshalIndent(sup, "", "  ")
	err = errors.Join(os.WriteFile(statePath(dir), b, 0o644), os.WriteFile(envPath(dir), []byte(envFile(c, workload, kubectl)), 0o644))
	if err == nil {
		fmt.Println("node: up")
		<-sigs
	}
	fmt.Println("node: tearing down")
	err = errors.Join(err, c.Stop(), realnode.Leaks(sup.State))
	if err == nil {
		err = os.RemoveAll(filepath.Join(dir, "cluster"))
	}
	_ = os.Remove(envPath(dir))
	_ = os.Remove(statePath(dir))
	fmt.Println("node: down")
	return err
}

func nodeCount() int {
	var n int
	if _, err := fmt.Sscan(os.Getenv("REALNODE_NODES"), &n); err != nil || n < 1 {
		return 2
	}
	return n
}

// envFile is the shell-sourceable facts scripts drive the cluster with.
func envFile(c *realnode.Cluster, workload, kubectl string) string {
	var nodes, cri []string
	for _, n := range c.Nodes {
		nodes = append(nodes, n.Name)
		cri = append(cri, "unix://"+n.CRISocket)
	}
	ca, cert, key := c.IPAMEtcdFiles()
	return fmt.Sprintf("KUBECONFIG=%s\nNODES=%q\nCRI_ENDPOINTS=%q\nMACVLAN_MASTER=%s\nMACVLAN_SUBNET=%s\nTEST_IMAGE=%s\nETCD_ENDPOINTS=%s\nETCD_CACERT=%s\nETCD_CERT=%s\nETCD_KEY=%s\nKUBECTL=%s\n",
		c.Kubeconfig, strings.Join(nodes, " "), strings.Join(cri, " "), realnode.UnderlayMaster, realnode.UnderlaySubnet,
		workload, strings.Join(c.IPAMEtcd.Endpoints(), ","), ca, cert, key, kubectl)
}

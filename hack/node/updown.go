package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/internal/testenv/realnode"
)

// up starts `serve` detached, shows its log until the cluster is up, and
// prints how to reach it.
func up(dir string) error {
	if sup, err := readState(dir); err == nil && isServe(sup.PID) {
		return fmt.Errorf("already up (pid %d); make node-down first", sup.PID)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logPath := filepath.Join(dir, "node.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(self, "serve")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives make
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start node serve: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var shown int64
	for {
		shown = showFrom(logPath, shown)
		select {
		case err := <-exited:
			showFrom(logPath, shown)
			return fmt.Errorf("node serve exited before the cluster was up (%v); log %s", err, logPath)
		case <-time.After(200 * time.Millisecond):
		}
		if b, _ := os.ReadFile(logPath); strings.Contains(string(b), "node: up") {
			showFrom(logPath, shown)
			break
		}
	}
	env, err := os.ReadFile(envPath(dir))
	if err != nil {
		return err
	}
	fmt.Printf("\nThe cluster is up (pid %d, log %s). Facts, also in %s:\n%s\n", cmd.Process.Pid, logPath, envPath(dir), env)
	fmt.Printf("  . %s && $KUBECTL --kubeconfig $KUBECONFIG get nodes -o wide   # KUBECTL: a kubectl %s built from the pinned module\n  make node-down   # tears it all down\n",
		envPath(dir), testenv.KubeVersion)
	return nil
}

func showFrom(path string, off int64) int64 {
	f, err := os.Open(path)
	if err != nil {
		return off
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return off
	}
	n, _ := io.Copy(os.Stdout, f)
	return off + n
}

// down stops `serve`, which tears the cluster down; if serve is gone
// (crashed, machine state left over), it tears down from state.json.
// Either way it then checks nothing is left.
func down(dir string) error {
	sup, err := readState(dir)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Println("node: nothing is up")
		return nil
	}
	if err != nil {
		return err
	}
	if isServe(sup.PID) && syscall.Kill(sup.PID, syscall.SIGTERM) == nil {
		fmt.Printf("node: stopping pid %d\n", sup.PID)
		deadline := time.Now().Add(3 * time.Minute)
		for isServe(sup.PID) && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if err := realnode.Leaks(sup.State); err != nil {
		fmt.Println("node: serve left things behind; removing them from state.json")
		if err := realnode.Teardown(sup.State); err != nil {
			fmt.Fprintln(os.Stderr, "node:", err)
		}
	}
	if err := realnode.Leaks(sup.State); err != nil {
		return fmt.Errorf("left on the machine:\n%w", err)
	}
	_ = os.Remove(statePath(dir))
	_ = os.Remove(envPath(dir))
	_ = os.RemoveAll(filepath.Join(dir, "cluster"))
	fmt.Println("node: down, nothing left")
	return nil
}

// isServe reports whether pid is still our `node serve`, not a process
// that reused its number.
func isServe(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	return len(args) == 2 && filepath.Base(args[0]) == ".node" && args[1] == "serve"
}

func readState(dir string) (supervisor, error) {
	var sup supervisor
	b, err := os.ReadFile(statePath(dir))
	if err != nil {
		return sup, err
	}
	return sup, json.Unmarshal(b, &sup)
}

package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
)

// The kernel sends Pdeathsig when the *thread* that forked a child exits,
// and netns helpers end the threads they lock. Servers are therefore forked
// from one thread that stays locked and alive for the whole test process,
// so they die with the process and not before.
var (
	spawnOnce sync.Once
	spawnReq  chan spawnCall
)

type spawnCall struct {
	cmd  *exec.Cmd
	done chan error
}

// startDaemon starts cmd so that it is killed when the test process dies.
func startDaemon(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReq = make(chan spawnCall)
		go func() {
			runtime.LockOSThread()
			for c := range spawnReq {
				c.done <- c.cmd.Start()
			}
		}()
	})
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	done := make(chan error, 1)
	spawnReq <- spawnCall{cmd: cmd, done: done}
	return <-done
}

// server is one long-running child process with its output in a log file.
type server struct {
	logFile string
	// setup, when set, adjusts the command before it starts (its
	// environment, a chroot).
	setup  func(*exec.Cmd)
	cmd    *exec.Cmd
	exited chan struct{}
}

// start runs bin with args, appending its output to the log file.
func (s *server) start(bin string, args []string) error {
	logf, err := os.OpenFile(s.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if s.setup != nil {
		s.setup(cmd)
	}
	if err := startDaemon(cmd); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	return nil
}

// stop kills the process and waits for it; stopping twice is harmless.
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// running reports whether the process is alive.
func (s *server) running() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// StartDaemon starts cmd so that it is killed when this process dies, for
// harnesses outside this package (internal/testenv/realnode).
func StartDaemon(cmd *exec.Cmd) error { return startDaemon(cmd) }

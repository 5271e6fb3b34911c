package testenv

import (
	"os/exec"
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
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	done := make(chan error, 1)
	spawnReq <- spawnCall{cmd: cmd, done: done}
	return <-done
}

package realnode

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// proc is one long-running child with its output in a log file.
type proc struct {
	name    string
	logFile string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// startProc runs argv with its output appended to logFile; it dies with
// this process (testenv.StartDaemon), so a crashed test leaves no kubelet.
func startProc(name, logFile string, argv ...string) (*proc, error) {
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log of %s: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := testenv.StartDaemon(cmd); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, filepath.Base(argv[0]), err)
	}
	p := &proc{name: name, logFile: logFile, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM, then SIGKILL after grace; stopping twice is harmless.
func (p *proc) stop(grace time.Duration) {
	if p == nil || !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// failure is a short account of why p is not up, with the end of its log.
func (p *proc) failure(what string) error {
	return fmt.Errorf("%s: %s; end of %s:\n%s", p.name, what, p.logFile, tailFile(p.logFile, 30))
}

func tailFile(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	n := 0
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			n++
			if n > lines {
				return string(b[i+1:])
			}
		}
	}
	return string(b)
}

func progressf(format string, args ...any) {
	if testenv.Progress != nil {
		fmt.Fprintf(testenv.Progress, "    realnode: "+format+"\n", args...)
	}
}

// run runs a short command and returns its combined output in the error.
func run(argv ...string) error {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %w: %s", argv, err, out)
	}
	return nil
}

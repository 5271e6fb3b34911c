package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain makes the test binary stand for the real plugin when asked:
// it sleeps, then says so on stdout, as a plugin prints its result.
func TestMain(m *testing.M) {
	if d := os.Getenv("CRASHWRAP_TEST_PLUGIN_SLEEP"); d != "" {
		wait, _ := time.ParseDuration(d)
		time.Sleep(wait)
		os.Stdout.WriteString("result\n")
		os.Exit(3)
	}
	code := m.Run()
	if built != "" {
		os.RemoveAll(filepath.Dir(built))
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	built     string
	buildErr  error
)

// wrapped puts the wrapper, built once, at dir/plugin, with this test
// binary as plugin.real and a crash dir of its own.
func wrapped(t *testing.T) (plugin, crash string) {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "crashwrap-")
		if err != nil {
			buildErr = err
			return
		}
		built = filepath.Join(dir, "crashwrap")
		if out, err := exec.Command("go", "build", "-o", built, ".").CombinedOutput(); err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build crashwrap: %v", buildErr)
	}
	dir := t.TempDir()
	plugin = filepath.Join(dir, "plugin")
	bin, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plugin, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, plugin+".real"); err != nil {
		t.Fatal(err)
	}
	crash = filepath.Join(dir, "crash")
	for _, d := range []string{"tokens", "claimed"} {
		if err := os.MkdirAll(filepath.Join(crash, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(plugin+".crash", []byte(crash+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return plugin, crash
}

func run(plugin, command, sleep string) (string, error) {
	cmd := exec.Command(plugin)
	cmd.Env = append(os.Environ(), "CNI_COMMAND="+command, "CNI_CONTAINERID=c1", "CRASHWRAP_TEST_PLUGIN_SLEEP="+sleep)
	out, err := cmd.Output()
	return string(out), err
}

func TestAnADDThatClaimsATokenIsKilledAfterItsDelay(t *testing.T) {
	plugin, crash := wrapped(t)
	if err := os.WriteFile(filepath.Join(crash, "tokens", "k0"), []byte("100000"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := run(plugin, "ADD", "10s")
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("wrapper ended with %v, want killed by SIGKILL", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the kill came after %s, want about 100ms", took)
	}
	if out != "" {
		t.Errorf("the killed plugin printed %q", out)
	}
	kills, _ := os.ReadFile(filepath.Join(crash, "kills"))
	if strings.TrimSpace(string(kills)) != "c1 100000" {
		t.Errorf("kills = %q, want the container and the delay", kills)
	}
	if left, _ := os.ReadDir(filepath.Join(crash, "tokens")); len(left) != 0 {
		t.Errorf("%d tokens left after the kill", len(left))
	}
}

func TestAnADDThatEndsBeforeItsDelayGivesTheTokenBack(t *testing.T) {
	plugin, crash := wrapped(t)
	if err := os.WriteFile(filepath.Join(crash, "tokens", "k0"), []byte("30000000"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(plugin, "ADD", "10ms")
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 || out != "result\n" {
		t.Fatalf("wrapper = %q, %v; want the plugin's output and its exit code 3", out, err)
	}
	if left, _ := os.ReadDir(filepath.Join(crash, "tokens")); len(left) != 1 {
		t.Errorf("%d tokens after an ADD that ended first, want its token back", len(left))
	}
	if d, _ := os.ReadFile(filepath.Join(crash, "durations")); len(strings.Fields(string(d))) != 1 {
		t.Errorf("durations = %q, want one ADD", d)
	}
}

func TestOtherCommandsRunThePluginUntouched(t *testing.T) {
	plugin, crash := wrapped(t)
	if err := os.WriteFile(filepath.Join(crash, "tokens", "k0"), []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(plugin, "DEL", "10ms")
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 || out != "result\n" {
		t.Fatalf("DEL through the wrapper = %q, %v; want the plugin's own", out, err)
	}
	if left, _ := os.ReadDir(filepath.Join(crash, "tokens")); len(left) != 1 {
		t.Errorf("a DEL took a kill token")
	}
}

package daemon

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestHealthzIsOKAndReadyzWaitsForInstall(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		path string
		want int
	}{{"/healthz", http.StatusOK}, {"/readyz", http.StatusServiceUnavailable}} {
		if code, _ := scrape(t, f.d, tc.path); code != tc.want {
			t.Errorf("before install: GET %s = %d, want %d", tc.path, code, tc.want)
		}
	}
	if err := f.d.Install(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _ := scrape(t, f.d, path); code != http.StatusOK {
			t.Errorf("after install: GET %s = %d, want 200", path, code)
		}
	}
}

func TestRunOnStopRemovesConflistOnlyWithCleanupOnExit(t *testing.T) {
	for _, cleanup := range []bool{false, true} {
		name := map[bool]string{false: "conflist kept by default", true: "conflist removed with cleanup-on-exit"}[cleanup]
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.CleanupOnExit = cleanup; c.TokenRefreshInterval = time.Hour })
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- f.d.Run(ctx) }()
			waitFor(t, "install", f.d.Ready)
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run returned %v, want nil on stop", err)
			}
			_, err := os.Stat(f.conflistPath())
			if removed := errors.Is(err, os.ErrNotExist); removed != cleanup {
				t.Errorf("conflist removed = %v, want %v (stat: %v)", removed, cleanup, err)
			}
		})
	}
}

func TestRunOnceInstallsAndReturnsWithoutServing(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Once = true; c.MetricsAddress = "127.0.0.1:1" })
	if err := f.d.Run(t.Context()); err != nil {
		t.Fatalf("Run --once: %v", err)
	}
	if _, err := os.Stat(f.conflistPath()); err != nil {
		t.Errorf("conflist not installed: %v", err)
	}
}

func TestRunReturnsInstallError(t *testing.T) {
	f := newFixture(t)
	writeFile(t, f.cfg.ConfFile, "{}", 0o644)
	var ce *ConflistError
	if err := f.d.Run(t.Context()); !errors.As(err, &ce) {
		t.Fatalf("Run = %v, want the *ConflistError", err)
	}
}

func TestNewRejectsUnusableFlags(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		flag   string
	}{
		{"conf-name not a conflist", func(c *Config) { c.ConfName = "00-meta-cni.conf" }, "--conf-name"},
		{"conf-name with a directory", func(c *Config) { c.ConfName = "x/00.conflist" }, "--conf-name"},
		{"relative host conf dir", func(c *Config) { c.HostCNIConfDir = "etc/cni/net.d" }, "--host-cni-conf-dir"},
		{"zero refresh interval", func(c *Config) { c.TokenRefreshInterval = 0 }, "--token-refresh-interval"},
		{"empty source bin dir", func(c *Config) { c.SourceBinDir = "" }, "--source-bin-dir"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := newFixture(t).cfg
			tc.mutate(&cfg)
			_, err := New(cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.flag) {
				t.Fatalf("New = %v, want an error naming %s", err, tc.flag)
			}
		})
	}
}

func TestAPIServerDefaultsToInClusterServiceAddress(t *testing.T) {
	tests := []struct {
		host, port, flag, want string
	}{
		{"10.96.0.1", "443", "", "https://10.96.0.1:443"},
		{"fd00::1", "6443", "", "https://[fd00::1]:6443"},
		{"10.96.0.1", "443", "https://api.example:6443", "https://api.example:6443"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			t.Setenv("KUBERNETES_SERVICE_HOST", tc.host)
			t.Setenv("KUBERNETES_SERVICE_PORT", tc.port)
			c := Config{APIServer: tc.flag}
			got, err := c.apiServerURL()
			if err != nil || got != tc.want {
				t.Errorf("apiServerURL = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

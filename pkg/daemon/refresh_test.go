package daemon

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestRefreshRewritesTokenOnlyWhenRotated(t *testing.T) {
	f := newFixture(t)
	if err := f.d.Install(); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name          string
		projected     string
		wantToken     string
		wantRefreshes uint64
	}{
		{"unchanged token is not rewritten", "token-1", "token-1", 0},
		{"rotated token is copied", "token-2", "token-2", 1},
		{"same rotated token is not copied again", "token-2", "token-2", 1},
		{"next rotation is copied", "token-3", "token-3", 2},
	}
	for _, s := range steps {
		writeFile(t, f.cfg.TokenFile, s.projected, 0o600)
		f.d.RefreshCredentials()
		if got := readFile(t, f.credPath("token")); got != s.wantToken {
			t.Errorf("%s: host token %q, want %q", s.name, got, s.wantToken)
		}
		if got := f.d.tokenRefreshes.Load(); got != s.wantRefreshes {
			t.Errorf("%s: refreshes %d, want %d", s.name, got, s.wantRefreshes)
		}
		assertMode(t, f.credPath("token"), 0o600)
	}
	if got := f.d.tokenRefreshErrors.Load(); got != 0 {
		t.Errorf("refresh errors %d, want 0", got)
	}
}

func TestRefreshCountsErrorAndKeepsOldTokenWhenProjectedTokenUnreadable(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, path string)
	}{
		{"token removed", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
		{"token empty", func(t *testing.T, path string) { writeFile(t, path, "", 0o600) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if err := f.d.Install(); err != nil {
				t.Fatal(err)
			}
			tc.spoil(t, f.cfg.TokenFile)
			f.d.RefreshCredentials()
			if got := f.d.tokenRefreshErrors.Load(); got != 1 {
				t.Errorf("refresh errors %d, want 1", got)
			}
			if got := readFile(t, f.credPath("token")); got != "token-1" {
				t.Errorf("host token %q, want the last good one kept", got)
			}
		})
	}
}

func TestRefreshCopiesRotatedCAAndEtcdSecret(t *testing.T) {
	f := newFixture(t)
	writeFile(t, f.cfg.EtcdSecretDir+"/tls.crt", "cert-1", 0o644)
	if err := f.d.Install(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, f.cfg.CAFile, "ca-2", 0o644)
	writeFile(t, f.cfg.EtcdSecretDir+"/tls.crt", "cert-2", 0o644)
	f.d.RefreshCredentials()
	if got := readFile(t, f.credPath("ca.crt")); got != "ca-2" {
		t.Errorf("ca.crt = %q, want ca-2", got)
	}
	if got := readFile(t, f.credPath("etcd/tls.crt")); got != "cert-2" {
		t.Errorf("etcd/tls.crt = %q, want cert-2", got)
	}
}

func TestRunRewritesRotatedTokenEveryInterval(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.d.Run(ctx) }()
	waitFor(t, "install", func() bool { return f.d.Ready() })
	writeFile(t, f.cfg.TokenFile, "token-2", 0o600)
	waitFor(t, "token rotation", func() bool {
		data, _ := os.ReadFile(f.credPath("token"))
		return string(data) == "token-2"
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

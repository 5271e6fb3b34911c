package testenv

import (
	"os"
	"sync"
	"testing"
)

// SharedKube is one control plane for a whole test package: starting
// kube-apiserver takes seconds, and each test works in its own namespace.
// Call Get from tests and Stop from TestMain after m.Run.
type SharedKube struct {
	once sync.Once
	kube *Kube
	dir  string
	err  error
}

// Get starts the control plane on first use (root only) and returns it.
func (s *SharedKube) Get(t testing.TB) *Kube {
	t.Helper()
	RequireRoot(t)
	s.once.Do(func() {
		s.dir, s.err = os.MkdirTemp("", "meta-cni-kube-")
		if s.err == nil {
			s.kube, s.err = StartKube(s.dir)
		}
	})
	if s.err != nil {
		t.Fatalf("start control plane: %v", s.err)
	}
	return s.kube
}

// Dir is the control plane's scratch directory, for files the tests keep
// beside it (kubeconfigs); empty before Get.
func (s *SharedKube) Dir() string { return s.dir }

// Stop stops the control plane, if it was started, and removes its files.
func (s *SharedKube) Stop() {
	if s.kube != nil {
		s.kube.Stop()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

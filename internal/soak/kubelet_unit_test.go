package soak

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestErrorKindCountsTheSameCauseOfTwoPodsTogether(t *testing.T) {
	a := errors.New(`plugin type="multus" failed (add): Multus: [churn-exact/r1-8/06c0c87b-64dd-478b-b551-0a12126e543c]: error waiting for pod: Get "https://127.0.0.1:46363/api/v1/namespaces/churn-exact/pods/r1-8?timeout=1m0s": context deadline exceeded`)
	b := errors.New(`plugin type="multus" failed (add): Multus: [churn-exact/r2-93/ec3c9956-8783-4c10-9a12-55c4830f5fb3]: error waiting for pod: Get "https://127.0.0.1:41001/api/v1/namespaces/churn-exact/pods/r2-93?timeout=1m0s": context deadline exceeded`)
	c := errors.New(`meta-cni: pod churn-exact/r1-8 container c59933a5928ac47479d4a4a4ba7f4fa82-3: etcd-ipam: pool 10.20.0.0/22 is full`)
	d := errors.New(`meta-cni: pod churn-exact/r1-9 container c0123456789abcdef0123456789abcdef: etcd-ipam: pool 10.20.0.0/22 is full`)
	if errorKind(a) != errorKind(b) {
		t.Errorf("one cause, two kinds:\n%s\n%s", errorKind(a), errorKind(b))
	}
	if errorKind(c) != errorKind(d) {
		t.Errorf("one cause, two kinds:\n%s\n%s", errorKind(c), errorKind(d))
	}
	if errorKind(a) == errorKind(c) {
		t.Errorf("two causes, one kind: %s", errorKind(a))
	}
}

func TestBackOffIsTheKubeletsJitteredPeriod(t *testing.T) {
	for range 100 {
		if d := backOff(); d < kubeletBackOff || d > kubeletBackOff*3/2 {
			t.Fatalf("back-off %s outside [%s, %s]", d, kubeletBackOff, kubeletBackOff*3/2)
		}
	}
	if kubeletBackOff != 10*time.Second {
		t.Errorf("kubelet back-off %s; the kubelet's backOffPeriod is 10s", kubeletBackOff)
	}
}

func TestErrorKindKeepsTheFailingPluginAndTheCause(t *testing.T) {
	err := errors.New(`plugin type="meta-cni" failed (add): pod churn-exact/r1-8: add network churn-exact/macvlan (net1): plugin type="macvlan" failed (add): etcd http://127.0.0.1:40001,http://127.0.0.1:40003,http://127.0.0.1:40005 unavailable: context deadline exceeded while reading key /meta-cni/ipam/pools/10.20.0.0-22/owners/c59933a5928ac47479d4a4a4ba7f4fa82/net1`)
	kind := errorKind(err)
	for _, want := range []string{`plugin type="meta-cni" failed (add)`, "context deadline exceeded while reading key"} {
		if !strings.Contains(kind, want) {
			t.Errorf("errorKind = %q, lacks %q", kind, want)
		}
	}
	if len(kind) > 300 {
		t.Errorf("errorKind is %d bytes long", len(kind))
	}
}

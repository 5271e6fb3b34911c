package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// With etcd down an ADD must give up within its timeout with code 11, and
// must not land later: once etcd is back, nothing has been written.
func TestEtcdDownGivesCode11WithinTheTimeoutAndWritesNothing(t *testing.T) {
	c := testenv.StartEtcdClusterRetry(t, 1, nil)
	r := newRig(t, c)
	const timeout = 2 * time.Second
	conf := r.conf("1.0.0", map[string]any{"subnet": "10.0.0.0/24",
		"etcd": map[string]any{"endpoints": c.Endpoints(), "prefix": r.prefix, "requestTimeout": timeout.String(), "dialTimeout": "1s"}})
	r.mustExec("ADD", "before", "", conf)
	r.mustExec("DEL", "before", "", conf)
	c.Members[0].Stop()

	for _, cmd := range []string{"ADD", "DEL", "CHECK"} {
		start := time.Now()
		_, err := r.exec(cmd, "while-down", "", withPrev(t, conf, []byte(`{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.9/24"}]}`)))
		took := time.Since(start)
		code, msg := cniCode(t, err)
		if code != 11 {
			t.Fatalf("%s with etcd down: code %d %q, want 11", cmd, code, msg)
		}
		if !strings.Contains(msg, c.Endpoints()[0]) {
			t.Errorf("%s error %q does not name the endpoint", cmd, msg)
		}
		if took > timeout+time.Second {
			t.Fatalf("%s with etcd down took %s, more than the %s timeout", cmd, took, timeout)
		}
	}

	if err := c.Members[0].Start(); err != nil {
		t.Fatal(err)
	}
	waitEtcd(t, r)
	if keys := r.allocationKeys(); len(keys) != 0 {
		t.Fatalf("keys written by an ADD that failed while etcd was down: %v", keys)
	}
	if got := ips(t, "1.0.0", r.mustExec("ADD", "after", "", conf)); len(got) != 1 {
		t.Fatalf("ADD after etcd came back: %v", got)
	}
}

func waitEtcd(t testing.TB, r *rig) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := r.cli.Get(ctx, "health")
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd not back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

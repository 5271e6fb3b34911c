package soak

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// Scenario 2: mid-churn, one member of the IPAM's three-member etcd is
// SIGKILLed and restarted, then its leader; then the API server's own
// etcd, which both implementations need for pod GETs and Whereabouts for
// every allocation. The churn goes on throughout. Every pod ends with its
// network (code 11 while there is no quorum or leader is the right
// answer, the kubelet retries it; any other code is a defect), the
// invariants hold after each phase, and no address is handed out twice
// across the election.
func TestLostEtcdMemberOrLeaderHandsNoAddressOutTwice(t *testing.T) {
	eachImplementation(t, func(t *testing.T, c *cluster) {
		ensureNetwork(t, c, "etcd-fault", newPool("10.21.0.0/20", 4093))
		ipam := func(pick func() (*testenv.EtcdMember, error)) func(t *testing.T) (string, func() error, func() error) {
			return func(t *testing.T) (string, func() error, func() error) {
				m, err := pick()
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					if err := restartMember(c.etcd, m); err != nil {
						t.Errorf("cleanup: %v", err)
					}
				})
				kill := func() error { m.Stop(); return nil }
				return "IPAM etcd member " + m.Name, kill, func() error { return restartMember(c.etcd, m) }
			}
		}
		phases := []struct {
			name   string
			ipam   bool // the IPAM's etcd, which Whereabouts does not use
			down   time.Duration
			target func(t *testing.T) (what string, kill, restore func() error)
		}{
			{"member", true, faultDowntime(c, 5*time.Second, 20*time.Second), ipam(func() (*testenv.EtcdMember, error) {
				leader, err := etcdLeader(context.Background(), c.etcd)
				if err != nil {
					return nil, err
				}
				for _, m := range c.etcd.Members {
					if m != leader {
						return m, nil
					}
				}
				return nil, fmt.Errorf("no member but the leader")
			})},
			{"leader", true, faultDowntime(c, 5*time.Second, 20*time.Second), ipam(func() (*testenv.EtcdMember, error) {
				return etcdLeader(context.Background(), c.etcd)
			})},
			{"kube-etcd", false, faultDowntime(c, 10*time.Second, 30*time.Second), func(t *testing.T) (string, func() error, func() error) {
				m := c.kube.Etcd.Members[0]
				restore := func() error {
					if !m.Running() {
						if err := m.Start(); err != nil {
							return fmt.Errorf("restart the API server's etcd: %w", err)
						}
					}
					return waitAPIServerReady(c.kube, 2*time.Minute)
				}
				t.Cleanup(func() {
					if err := restore(); err != nil {
						t.Errorf("cleanup: %v", err)
					}
				})
				return "the API server's etcd (its only member)", func() error { m.Stop(); return nil }, restore
			}},
		}
		for _, ph := range phases {
			t.Run(ph.name, func(t *testing.T) {
				n := faultPods(c)
				res := newResult(c, "etcd-fault/"+ph.name, n, 1, 4093)
				// Whereabouts never opens the IPAM's etcd.
				if _, isRef := c.impl.(*reference); ph.ipam && isRef {
					res.NotApplicable = "Whereabouts keeps its allocations in the API server's CRDs, not in the IPAM's etcd: killing that etcd does nothing to Multus + Whereabouts (see kube-etcd for the API server's own)"
					saveResult(res)
					t.Log(res.NotApplicable)
					return
				}
				etcdFaultPhase(t, c, ph.name, n, ph.down, &res, ph.target)
				saveResult(res)
			})
		}
	})
}

// etcdFaultPhase churns n pods, and once a quarter of their ADDs ended
// kills target, waits down, and restores it, then checks and DELs them.
func etcdFaultPhase(t *testing.T, c *cluster, name string, n int, down time.Duration, res *Result,
	target func(t *testing.T) (string, func() error, func() error)) {
	pods, err := createPods(context.Background(), c, "etcd-fault", name, "macvlan", n)
	t.Cleanup(func() { removeAfterFailure(t, c, pods) })
	if err != nil {
		t.Fatal(err)
	}
	what, kill, restore := target(t)
	progressf("etcd-fault/%s: %d pods; %s killed for %s mid-churn", name, n, what, down)
	w := newFaultWindow(n / 4)
	add, err := churnWithFault(c, pods, sandboxPolicy{retry: true}, w, fault{inject: kill, restore: restore, down: down})
	if add != nil {
		res.addPhase(add, true)
	}
	if err != nil {
		t.Fatal(err)
	}
	w.fill(res)
	if k := notLive(pods); k > 0 || add.failed() > add.Errors["11"] {
		c.expect(t)("%s killed: %d of %d pods without a network after up to %d sandboxes each; ADD errors by code %v (only 11 is right); by message %v",
			what, k, len(pods), maxSandboxAttempts, add.Errors, add.Messages)
	}
	took, dups, leaks := requireClean(t, c, pods, what+" killed, after ADD")
	res.Duplicates, res.Leaks, res.ConvergeMs = dups, leaks, float64(took.Milliseconds())

	del, err := delPods(c, pods)
	if err != nil {
		t.Fatal(err)
	}
	res.addPhase(del, false)
	if k := len(pods) - notLive(pods); k > 0 {
		c.expect(t)("%d pods still attached after up to %d DELs each; DEL errors by code %v; first: %v", k, maxSandboxAttempts, del.Errors, del.FirstErrors)
	}
	took, dups, leaks = requireClean(t, c, pods, what+" killed, after DEL")
	res.Duplicates, res.Leaks = res.Duplicates+dups, res.Leaks+leaks
	res.ConvergeMs = max(res.ConvergeMs, float64(took.Milliseconds()))

	res.setLatencies(add, del)
	res.AgentPeakRSSMB = agentPeakRSS(c)
	t.Logf("etcd-fault/%s: %s down %.1fs; ADDs during it %v, failed p50 %.0f ms p95 %.0f ms; first success of an ADD started after the kill %.1fs after it; errors %v; converged within %.1fs",
		name, what, res.FaultMs/1000, res.FaultAdds, res.FaultFailP50Ms, res.FaultFailP95Ms, res.FailedForMs/1000, res.Errors, res.ConvergeMs/1000)
}

// faultPods is a fault phase's churn: the round under SOAK=full,
// half of make test's round, so the fault scenarios stay cheap in CI.
func faultPods(c *cluster) int {
	if c.scale.Name == "full" {
		return c.scale.Pods
	}
	return max(c.scale.Pods/2, len(c.nodes))
}

// removeAfterFailure DELs and deletes a failed phase's pods, so the
// scenarios after it on the shared cluster do not count them as leaks.
func removeAfterFailure(t *testing.T, c *cluster, pods []*podRun) {
	if !t.Failed() {
		return
	}
	var left []*podRun
	for _, p := range pods {
		if p != nil {
			left = append(left, p)
		}
	}
	if _, err := delPods(c, left); err != nil {
		t.Logf("cleanup: %v", err)
	}
}

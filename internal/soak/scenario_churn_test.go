package soak

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// churnPace is the paced variant's arrival rate: a pod every 500 ms across
// the cluster, as a controller creates them, which both implementations
// keep up with on this machine. All at once, ten nodes share two CPUs with
// 80 calls in flight, and an ADD's latency is mostly the wait for a core.
const churnPace = 500 * time.Millisecond

// Scenario 1: pods across every node, ADDed then DELeted, round after
// round, with Spiderpool's two pool sizes: exactly as many addresses as
// pods, and plenty (a /20, four times 1000), every pod of a round at once;
// then, with plenty, the pods arriving at a steady pace. Every ADD and DEL
// succeeds and the invariants hold after each half-round.
func TestChurnKeepsEveryAddressUniqueAndLeavesNothing(t *testing.T) {
	eachImplementation(t, func(t *testing.T, c *cluster) {
		sc := c.scale
		variants := []struct {
			name string
			pool pool
			pace time.Duration
		}{
			{"exact", newPool("10.20.0.0/22", sc.Pods), 0},
			{"plenty", newPool("10.20.16.0/20", 4093), 0},
			{"paced", newPool("10.20.64.0/20", 4093), churnPace},
		}
		for _, v := range variants {
			t.Run(v.name, func(t *testing.T) {
				namespace := "churn-" + v.name
				ensureNetwork(t, c, namespace, v.pool)
				res := newResult(c, "churn/"+v.name, sc.Pods, sc.Rounds, v.pool.size())
				res.PaceMs = float64(v.pace.Milliseconds())
				var adds, dels, waits testenv.Latencies
				var addWall time.Duration
				for round := 1; round <= sc.Rounds; round++ {
					progressf("churn/%s round %d: %d pods on %d nodes", v.name, round, sc.Pods, len(c.nodes))
					pods, err := createPods(context.Background(), c, namespace, fmt.Sprintf("r%d", round), "macvlan", sc.Pods)
					if err != nil {
						t.Fatal(err)
					}
					add, err := addPods(c, pods, sandboxPolicy{retry: true, pace: v.pace})
					if err != nil {
						t.Fatal(err)
					}
					res.addPhase(add, true)
					adds, addWall = append(adds, add.Latencies...), addWall+add.Wall
					waits = append(waits, add.PodNetwork...)
					// The kubelet retries whatever failed, and a failure it
					// mends by retrying (code 11 on an overloaded machine) is
					// the plugin's right answer; any other is a defect.
					if n := notLive(pods); n > 0 || add.failed() > add.Errors["11"] {
						c.expect(t)("round %d: %d of %d pods without a network after up to %d sandboxes each; ADD errors by code %v; by message %v",
							round, n, len(pods), maxSandboxAttempts, add.Errors, add.Messages)
					}
					took, dups, leaks := requireClean(t, c, pods, fmt.Sprintf("round %d after ADD", round))
					res.Duplicates, res.Leaks = res.Duplicates+dups, res.Leaks+leaks
					res.ConvergeMs = max(res.ConvergeMs, float64(took.Milliseconds()))
					progressf("churn/%s round %d: %d ADDs in %s, converged in %s", v.name, round, add.Ops, add.Wall.Round(time.Millisecond), took.Round(time.Millisecond))

					del, err := delPods(c, pods)
					if err != nil {
						t.Fatal(err)
					}
					res.addPhase(del, false)
					dels = append(dels, del.Latencies...)
					if n := len(pods) - notLive(pods); n > 0 {
						c.expect(t)("round %d: %d pods still attached after up to %d DELs each; DEL errors by code %v; first: %v", round, n, maxSandboxAttempts, del.Errors, del.FirstErrors)
					}
					took, dups, leaks = requireClean(t, c, pods, fmt.Sprintf("round %d after DEL", round))
					res.Duplicates, res.Leaks = res.Duplicates+dups, res.Leaks+leaks
					res.ConvergeMs = max(res.ConvergeMs, float64(took.Milliseconds()))
				}
				res.AddsPerSecond = float64(len(adds)) / addWall.Seconds()
				res.AddP50Ms, res.AddP95Ms, res.DelP50Ms = adds.Percentile(0.50), adds.Percentile(0.95), dels.Percentile(0.50)
				res.PodNetworkP50Ms, res.PodNetworkP95Ms = waits.Percentile(0.50), waits.Percentile(0.95)
				res.AgentPeakRSSMB = agentPeakRSS(c)
				t.Logf("churn/%s: %d retries; %.1f ADDs/s, ADD p50 %.0f ms p95 %.0f ms, errors %v, converged within %.1fs, agent peak RSS %.0f MiB",
					v.name, res.Retries, res.AddsPerSecond, res.AddP50Ms, res.AddP95Ms, res.Errors, res.ConvergeMs/1000, res.AgentPeakRSSMB)
				saveResult(res)
			})
		}
	})
}

func notLive(pods []*podRun) int {
	n := 0
	for _, p := range pods {
		if !p.live {
			n++
		}
	}
	return n
}

package ipam

import (
	"math/rand/v2"
	"net/netip"
	"sync"
)

// claims are the candidate addresses this process is writing right now.
// Goroutines of one process (a node daemon, a benchmark) then never race
// each other for the same address; processes still race, and etcd's
// create-only guards settle it.
type claims struct {
	mu   sync.Mutex
	keys map[string]struct{}
	// hints are the last address this process allocated per range set.
	hints map[string]netip.Addr
}

func newClaims() *claims {
	return &claims{keys: map[string]struct{}{}, hints: map[string]netip.Addr{}}
}

func (c *claims) hint(set string) (netip.Addr, bool) {
	if c == nil {
		return netip.Addr{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.hints[set]
	return a, ok
}

func (c *claims) setHint(set string, a netip.Addr) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.hints[set] = a
	c.mu.Unlock()
}

func (c *claims) take(key string) bool {
	if c == nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, busy := c.keys[key]; busy {
		return false
	}
	c.keys[key] = struct{}{}
	return true
}

func (c *claims) drop(key string) {
	if c == nil || key == "" {
		return
	}
	c.mu.Lock()
	delete(c.keys, key)
	c.mu.Unlock()
}

// choose claims an address from free: the first one, keeping allocation
// order, or after a lost race a random one, spreading the contenders.
func (c *claims) choose(scope Scope, free []netip.Addr, random bool) (netip.Addr, string, bool) {
	if len(free) == 0 {
		return netip.Addr{}, "", false
	}
	start := 0
	if random {
		start = rand.IntN(len(free))
	}
	for i := range free {
		a := free[(start+i)%len(free)]
		if key := scope.IPKey(a); c.take(key) {
			return a, key, true
		}
	}
	return netip.Addr{}, "", false
}

package ipam

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"log/slog"
	"net/netip"
	"slices"
	"time"
)

// DefaultWindow is how many addresses one range read covers. A read never
// spans more than this, so the cost of finding a free address does not grow
// with the pool (etcd counts every key in a read's range, limit or not).
const DefaultWindow = 64

// maxAttempts bounds the write transactions of one allocation; each lost
// race costs one, and the deadline bounds them too.
const maxAttempts = 64

// orderedRounds is how many lost races an allocation retries in address
// order before it spreads: a node's kubelet starts a handful of sandboxes
// at once, and those keep next-fit order.
const orderedRounds = 8

// crowdToSpread is how many addresses, seen free before a lost race and
// taken by the time it is lost, show a burst bigger than the handful that
// keeps order. Ordered retries cost a crowd of n about n writes each (one
// contender wins a round), so such a burst spreads at once instead of after
// orderedRounds.
const crowdToSpread = orderedRounds

// Store keeps allocations in etcd: one key per address of a scope, one per
// owner, and a cursor per range set. Every write is one transaction with
// create-only guards; there is no lock, no lease and no value holding a
// whole pool.
type Store struct {
	KV       KV
	Prefix   string
	Network  string
	Window   uint64
	Log      *slog.Logger
	classify func(error) error
	claims   *claims
}

// NewStore wraps a connected client.
func NewStore(e *Etcd, network string, log *slog.Logger) *Store {
	s := NewStoreKV(e.kv, e.Config.Prefix, network, log)
	s.classify = e.classify
	return s
}

// NewStoreKV is a store over any KV, such as etcdv3.KV for a caller that
// keeps a gRPC connection warm.
func NewStoreKV(kv KV, prefix, network string, log *slog.Logger) *Store {
	return &Store{KV: kv, Prefix: prefix, Network: network, Window: DefaultWindow, Log: log, claims: newClaims()}
}

// Request is one ADD: who asks, from which range sets, and any static
// address per range set.
type Request struct {
	Owner  Record
	Sets   []*RangeSet
	Static map[int]netip.Addr
}

// Assigned is the address given for one range set.
type Assigned struct {
	Set    int // index into Request.Sets, or -1 for an address no set holds
	Addr   netip.Addr
	Subnet netip.Prefix
}

// pick is the search state of one range set during an allocation.
type pick struct {
	set     *RangeSet
	static  bool
	addr    netip.Addr
	rng     int
	win     Window
	free    []netip.Addr
	claimed string // the key claimed in Store.claims for addr
	// prefetch is the first window, read along with the owner.
	prefetch *Window
	// cands are addresses believed free after addr, from the cursor.
	cands []netip.Addr
	next  func() (Window, bool)
	stop  func()
}

func (s *Store) scope() Scope { return NewScope(s.Prefix, s.Network) }

func (s *Store) ownerKey(r Record) string { return OwnerKey(s.Prefix, r.ContainerID, r.IfName) }

// Allocate gives the owner one address per range set in one transaction, or
// returns what the owner already holds when ADD is repeated.
func (s *Store) Allocate(ctx context.Context, req Request) ([]Assigned, error) {
	ownerKey := s.ownerKey(req.Owner)
	picks := make([]*pick, len(req.Sets))
	defer func() {
		for _, p := range picks {
			if p != nil && p.stop != nil {
				p.stop()
			}
			if p != nil {
				s.claims.drop(p.claimed)
			}
		}
	}()
	// Read the owner and the cursors in one serializable round trip: a stale
	// answer only costs a retry, the write's guards keep it correct.
	ops := []Op{{Kind: OpGetKind, Key: ownerKey, Serializable: true}}
	for i, set := range req.Sets {
		p := &pick{set: set}
		picks[i] = p
		if a, ok := req.Static[i]; ok {
			p.static, p.addr = true, a
			p.rng, _ = set.RangeFor(a)
			continue
		}
		// A caller that allocated from this set before (a daemon, a
		// benchmark) resumes after its own last address and reads the
		// first window now; a fresh process reads the shared cursor.
		if hint, ok := s.claims.hint(s.hintKey(set)); ok {
			p.next, p.stop = iter.Pull(set.Windows(hint, s.window()))
			if w, ok := p.next(); ok {
				p.prefetch = &w
				ops = append(ops, s.windowGet(w, true))
			}
			continue
		}
		ops = append(ops, Op{Kind: OpGetKind, Key: s.scope().CursorKey(set), Serializable: true})
	}
	resp, err := s.txn(ctx, nil, ops, nil)
	if err != nil {
		return nil, err
	}
	if owner := resp.Responses[0].Kvs; len(owner) > 0 {
		return s.existing(owner[0].Value, req.Sets)
	}
	n := 1
	for _, p := range picks {
		if p.static {
			continue
		}
		if p.next != nil {
			if p.prefetch != nil {
				found := s.consume(p, *p.prefetch, resp.Responses[n].Kvs, false)
				n++
				if found {
					continue
				}
			}
			if err := s.advance(ctx, p, true); err != nil {
				return nil, err
			}
			continue
		}
		var cur cursor
		for _, kv := range resp.Responses[n].Kvs {
			if c, err := parseCursor(string(kv.Value)); err == nil {
				cur = c
			}
		}
		n++
		p.next, p.stop = iter.Pull(p.set.Windows(cur.last, s.window()))
		// The cursor names addresses its writer saw free just after its own:
		// try the first one straight away, with no window read.
		if s.takeCandidate(p, cur.next) {
			continue
		}
		if err := s.advance(ctx, p, true); err != nil {
			return nil, err
		}
	}
	now := time.Now().UTC()
	for attempt := 0; attempt < maxAttempts; attempt++ {
		cmps := []Cmp{CreateIs(ownerKey, 0)}
		var puts, elses []Op
		alloc := Allocation{Record: req.Owner}
		alloc.Time = now
		rec, _ := json.Marshal(alloc.Record)
		scope := s.scope()
		for _, p := range picks {
			key := scope.IPKey(p.addr)
			cmps = append(cmps, CreateIs(key, 0))
			puts = append(puts, Put(key, string(rec)))
			alloc.Addrs = append(alloc.Addrs, OwnedAddr{Key: key, Addr: p.addr, Subnet: p.set.Ranges[p.rng].Subnet})
			if p.static {
				elses = append(elses, Get(key))
			} else {
				puts = append(puts, Put(scope.CursorKey(p.set), cursor{p.addr, p.nextCandidates()}.String()))
				start, end := scope.WindowRange(p.win.First, p.win.Last)
				elses = append(elses, Op{Kind: OpGetKind, Key: start, End: end, KeysOnly: true})
			}
		}
		val, _ := json.Marshal(alloc)
		puts = append(puts, Put(ownerKey, string(val)))
		elses = append([]Op{Get(ownerKey)}, elses...)
		resp, err := s.txn(ctx, cmps, puts, elses)
		if err != nil {
			return nil, err
		}
		if resp.Succeeded {
			out := make([]Assigned, len(picks))
			for i, p := range picks {
				if !p.static {
					s.claims.setHint(s.hintKey(p.set), p.addr)
				}
				out[i] = Assigned{Set: i, Addr: p.addr, Subnet: p.set.Ranges[p.rng].Subnet}
			}
			return out, nil
		}
		if owner := resp.Responses[0].Kvs; len(owner) > 0 {
			return s.existing(owner[0].Value, req.Sets)
		}
		for i, p := range picks {
			kvs := resp.Responses[i+1].Kvs
			if p.static {
				if len(kvs) > 0 {
					rec, _ := decodeRecord(kvs[0].Value)
					return nil, &OwnedError{Addr: p.addr, Owner: rec}
				}
				continue
			}
			seen := p.seenFree()
			p.free = freeIn(p.win, scope, kvs)
			if slices.Contains(p.free, p.addr) {
				continue // still free: another set lost the race
			}
			s.claims.drop(p.claimed)
			p.claimed = ""
			// Lost a race. For the first orderedRounds the contenders
			// all retry on the lowest free address after the one they
			// lost, so one wins per round and pods started together get
			// the next addresses in order, as users expect of a range.
			// A bigger burst spreads over the window, at once when the
			// window shows a crowd took many of the addresses this ADD
			// saw free, so it still converges within maxAttempts.
			spread := attempt+1 >= orderedRounds || takenSince(seen, p.free, p.win) >= crowdToSpread
			if a, key, ok := s.claims.choose(scope, p.free, spread); ok {
				p.addr, p.claimed = a, key
				continue
			}
			if err := s.advance(ctx, p, false); err != nil {
				return nil, err
			}
		}
		s.Log.Debug("allocation lost a race, retrying", "container", req.Owner.ContainerID, "attempt", attempt+1)
	}
	return nil, &ContendedError{What: "allocate for container " + req.Owner.ContainerID, Attempts: maxAttempts}
}

func (s *Store) window() uint64 {
	if s.Window == 0 {
		return DefaultWindow
	}
	return s.Window
}

// advance reads windows until one has a free address. Reads are
// serializable; before declaring the set full it rescans linearizably, so a
// lagging member cannot make a free pool look full.
func (s *Store) advance(ctx context.Context, p *pick, first bool) error {
	serializable := true
	for {
		w, ok := p.next()
		if !ok {
			if serializable {
				serializable = false
				p.stop()
				p.next, p.stop = iter.Pull(p.set.Windows(p.addr, s.window()))
				continue
			}
			return &RangeFullError{RangeSet: p.set.String(), Size: p.set.Size()}
		}
		resp, err := s.txn(ctx, nil, []Op{s.windowGet(w, serializable)}, nil)
		if err != nil {
			return err
		}
		if s.consume(p, w, resp.Responses[0].Kvs, !first) {
			return nil
		}
	}
}

// windowGet reads which addresses of w are taken: one key range covering
// exactly the window, keys only.
func (s *Store) windowGet(w Window, serializable bool) Op {
	start, end := s.scope().WindowRange(w.First, w.Last)
	return Op{Kind: OpGetKind, Key: start, End: end, KeysOnly: true, Serializable: serializable}
}

// takeCandidate claims the first of cands that this set may hand out,
// keeping the rest to pass on in the cursor.
func (s *Store) takeCandidate(p *pick, cands []netip.Addr) bool {
	for i, a := range cands {
		w, ok := p.set.windowFrom(a, s.window())
		if !ok {
			continue
		}
		if key := s.scope().IPKey(a); s.claims.take(key) {
			p.addr, p.claimed, p.rng, p.win = a, key, w.Range, w
			p.free, p.cands = nil, cands[i+1:]
			return true
		}
	}
	return false
}

// seenFree is what this ADD last believed free: the last window read, or
// the address it tried and the candidates the cursor named after it.
func (p *pick) seenFree() []netip.Addr {
	if p.free != nil {
		return p.free
	}
	return append([]netip.Addr{p.addr}, p.cands...)
}

// takenSince counts the addresses of w that were in seen and are not in
// free now: what other ADDs took while this one read and wrote.
func takenSince(seen, free []netip.Addr, w Window) int {
	n := 0
	for _, a := range seen {
		if w.Contains(a) && !slices.Contains(free, a) {
			n++
		}
	}
	return n
}

// nextCandidates are the addresses to name in the cursor after addr: those
// the last window read showed free after it, or what is left of the list
// taken from the cursor.
func (p *pick) nextCandidates() []netip.Addr {
	if p.free == nil {
		return p.cands
	}
	i := slices.Index(p.free, p.addr)
	return p.free[i+1:]
}

// consume takes the read of window w and claims a free address of it.
func (s *Store) consume(p *pick, w Window, kvs []KeyValue, random bool) bool {
	scope := s.scope()
	p.win, p.rng = w, w.Range
	p.free = freeIn(w, scope, kvs)
	a, key, ok := s.claims.choose(scope, p.free, random)
	if ok {
		p.addr, p.claimed = a, key
	}
	return ok
}

func (s *Store) hintKey(set *RangeSet) string {
	return s.scope().Key + " " + set.String()
}

// freeIn lists the addresses of w that have no key among kvs.
func freeIn(w Window, scope Scope, kvs []KeyValue) []netip.Addr {
	taken := make(map[netip.Addr]bool, len(kvs))
	for _, kv := range kvs {
		if a, err := scope.AddrFromKey(string(kv.Key)); err == nil {
			taken[a] = true
		}
	}
	var free []netip.Addr
	for a := w.First; ; a = a.Next() {
		if !taken[a] {
			free = append(free, a)
		}
		if a == w.Last {
			return free
		}
	}
}

// existing turns the owner's record into the result of a repeated ADD.
func (s *Store) existing(val []byte, sets []*RangeSet) ([]Assigned, error) {
	alloc, err := decodeAllocation(val)
	if err != nil {
		return nil, fmt.Errorf("decode existing allocation: %w", err)
	}
	var out []Assigned
	for _, oa := range alloc.Addrs {
		as := Assigned{Set: -1, Addr: oa.Addr, Subnet: oa.Subnet}
		for i, set := range sets {
			// The config's own mask: it may have grown since the ADD.
			if idx, _ := set.RangeFor(oa.Addr); idx >= 0 {
				as.Set, as.Subnet = i, set.Ranges[idx].Subnet
				break
			}
		}
		out = append(out, as)
	}
	return out, nil
}

// txn runs one transaction, retrying transient failures until ctx ends. A
// retried write is safe: its create-only guards make a second commit fail,
// and the caller then finds its own owner key.
func (s *Store) txn(ctx context.Context, cmps []Cmp, then, els []Op) (*TxnResponse, error) {
	backoff := 20 * time.Millisecond
	for {
		resp, err := s.KV.Txn(ctx, cmps, then, els)
		if err == nil {
			return resp, nil
		}
		if !transient(ctx, err) {
			return nil, s.fail(err)
		}
		s.Log.Debug("etcd request failed, retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil, s.fail(err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

func (s *Store) fail(err error) error {
	if s.classify != nil {
		return s.classify(err)
	}
	if re := rejected(err); re != nil {
		return re
	}
	return &UnavailableError{Err: err}
}

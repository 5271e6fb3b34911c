package ipam

import (
	"fmt"
	"iter"
	"net/netip"
	"slices"
	"strings"
)

// RangeSet is the ranges one address is taken from: ADD returns one address
// per range set. All its ranges share a family and none overlap.
type RangeSet struct {
	Ranges []Range
	// spans are the allocatable runs of addresses: each range minus its
	// reserved addresses and the exclusions, in allocation order.
	spans []span
	size  uint64
}

type span struct {
	rng         int
	first, last netip.Addr
}

// Window is a run of allocatable addresses in one range, read from etcd as
// one key range.
type Window struct {
	Range       int
	First, Last netip.Addr
}

// Contains reports whether a lies between the window's first and last
// addresses.
func (w Window) Contains(a netip.Addr) bool {
	return w.First.IsValid() && a.Compare(w.First) >= 0 && a.Compare(w.Last) <= 0
}

// NewRangeSet checks ranges and works out which of their addresses can be
// handed out; exclude applies to the ranges of its family.
func NewRangeSet(ranges []Range, exclude []netip.Prefix) (*RangeSet, error) {
	if len(ranges) == 0 {
		return nil, fieldErr("", "a range set needs at least one range")
	}
	s := &RangeSet{Ranges: ranges}
	for i, r := range ranges {
		if r.Start.Is4() != ranges[0].Start.Is4() {
			return nil, fieldErr(fmt.Sprintf("[%d].subnet", i), "%s mixes address families within one range set", r.Subnet)
		}
		for j := 0; j < i; j++ {
			if r.Overlaps(ranges[j]) {
				return nil, fieldErr(fmt.Sprintf("[%d]", i), "range %s overlaps range %d (%s)", r, j, ranges[j])
			}
		}
		for _, sp := range allocatableSpans(r, exclude) {
			sp.rng = i
			s.spans = append(s.spans, sp)
			s.size = satAdd(s.size, addrCount(sp.first, sp.last))
		}
	}
	return s, nil
}

// allocatableSpans subtracts the reserved addresses and the exclusions from
// r, in address order.
func allocatableSpans(r Range, exclude []netip.Prefix) []span {
	type hole struct{ first, last netip.Addr }
	holes := []hole{{r.Subnet.Addr(), r.Subnet.Addr()}, {r.Gateway, r.Gateway}}
	if r.Start.Is4() {
		b := lastAddr(r.Subnet)
		holes = append(holes, hole{b, b})
	}
	for _, p := range exclude {
		if p.Addr().Is4() == r.Start.Is4() {
			holes = append(holes, hole{p.Masked().Addr(), lastAddr(p)})
		}
	}
	slices.SortFunc(holes, func(a, b hole) int { return a.first.Compare(b.first) })
	var out []span
	cur := r.Start
	for _, h := range holes {
		if h.last.Compare(cur) < 0 {
			continue
		}
		if h.first.Compare(r.End) > 0 {
			break
		}
		if h.first.Compare(cur) > 0 {
			out = append(out, span{first: cur, last: minAddr(h.first.Prev(), r.End)})
		}
		next, ok := addrAdd(h.last, 1)
		if !ok || h.last.Compare(r.End) >= 0 {
			return out
		}
		cur = next
	}
	return append(out, span{first: cur, last: r.End})
}

func satAdd(a, b uint64) uint64 {
	if a+b < a {
		return ^uint64(0)
	}
	return a + b
}

// Size is the number of addresses this set can hand out.
func (s *RangeSet) Size() uint64 { return s.size }

// Is4 reports the set's family.
func (s *RangeSet) Is4() bool { return s.Ranges[0].Start.Is4() }

// Allocatable reports whether a can be handed out dynamically.
func (s *RangeSet) Allocatable(a netip.Addr) bool {
	for _, sp := range s.spans {
		if sp.first.Compare(a) <= 0 && a.Compare(sp.last) <= 0 && a.Is4() == sp.first.Is4() {
			return true
		}
	}
	return false
}

// RangeFor returns the range whose subnet holds a requested address, which
// may lie outside rangeStart-rangeEnd or in an exclusion: those only keep
// dynamic allocation away. ok is false for another subnet or for the network,
// broadcast or gateway address.
func (s *RangeSet) RangeFor(a netip.Addr) (idx int, ok bool) {
	idx = -1
	for i, r := range s.Ranges {
		if !r.Subnet.Contains(a) {
			continue
		}
		if r.Contains(a) {
			idx = i
			break
		}
		if idx < 0 {
			idx = i
		}
	}
	if idx < 0 || s.Ranges[idx].Reserved(a) {
		return idx, false
	}
	return idx, true
}

// Spans are the set's allocatable runs of addresses, each within one range,
// in address order: the whole set, with reserved and excluded addresses
// left out.
func (s *RangeSet) Spans() []Window {
	out := make([]Window, len(s.spans))
	for i, sp := range s.spans {
		out[i] = Window{Range: sp.rng, First: sp.first, Last: sp.last}
	}
	return out
}

// Windows yields the allocatable addresses once each, in allocation order,
// cut into windows of at most size addresses. The order starts just after
// `after` (the last address handed out) and wraps around, so a just-freed
// address comes last. With `after` invalid it starts at the first address.
func (s *RangeSet) Windows(after netip.Addr, size uint64) iter.Seq[Window] {
	return func(yield func(Window) bool) {
		if len(s.spans) == 0 || size == 0 {
			return
		}
		j, p := s.startAfter(after)
		emit := func(sp span, from, to netip.Addr) bool {
			for {
				last := to
				if addrCount(from, to) > size {
					last, _ = addrAdd(from, size-1)
				}
				if !yield(Window{Range: sp.rng, First: from, Last: last}) {
					return false
				}
				if last == to {
					return true
				}
				from = last.Next()
			}
		}
		if !emit(s.spans[j], p, s.spans[j].last) {
			return
		}
		for k := 1; k < len(s.spans); k++ {
			sp := s.spans[(j+k)%len(s.spans)]
			if !emit(sp, sp.first, sp.last) {
				return
			}
		}
		if p != s.spans[j].first {
			emit(s.spans[j], s.spans[j].first, p.Prev())
		}
	}
}

// startAfter finds the span and address where allocation resumes.
func (s *RangeSet) startAfter(after netip.Addr) (int, netip.Addr) {
	if !after.IsValid() || after.Is4() != s.Is4() {
		return 0, s.spans[0].first
	}
	r := -1
	for i, rg := range s.Ranges {
		if rg.Contains(after) {
			r = i
			break
		}
	}
	for j, sp := range s.spans {
		var here bool
		if r >= 0 {
			here = (sp.rng == r && sp.last.Compare(after) > 0) || sp.rng > r
		} else {
			here = sp.last.Compare(after) > 0
		}
		if here {
			if sp.first.Compare(after) > 0 || (r >= 0 && sp.rng != r) {
				return j, sp.first
			}
			return j, after.Next()
		}
	}
	return 0, s.spans[0].first
}

func (s *RangeSet) String() string {
	var parts []string
	for _, r := range s.Ranges {
		parts = append(parts, r.String())
	}
	return strings.Join(parts, ", ")
}

// windowFrom is the window that starts at a, or ok=false when a cannot be
// handed out dynamically from this set.
func (s *RangeSet) windowFrom(a netip.Addr, size uint64) (Window, bool) {
	for _, sp := range s.spans {
		if a.Is4() != sp.first.Is4() || a.Compare(sp.first) < 0 || a.Compare(sp.last) > 0 {
			continue
		}
		last := sp.last
		if addrCount(a, last) > size {
			last, _ = addrAdd(a, size-1)
		}
		return Window{Range: sp.rng, First: a, Last: last}, true
	}
	return Window{}, false
}

package ipam

import (
	"fmt"
	"net/netip"
	"strings"
)

// maxCandidates bounds the free addresses a cursor names.
const maxCandidates = 32

// cursor is the value of a range set's cursor key: the last address handed
// out, then addresses its writer saw free after it. The next allocation
// tries the first candidate with no window read; the create-only guard
// catches a stale one, so the list is only ever a hint.
type cursor struct {
	last netip.Addr
	next []netip.Addr
}

func (c cursor) String() string {
	parts := []string{c.last.String()}
	for i, a := range c.next {
		if i == maxCandidates {
			break
		}
		parts = append(parts, a.String())
	}
	return strings.Join(parts, " ")
}

func parseCursor(s string) (cursor, error) {
	var c cursor
	for i, f := range strings.Fields(s) {
		a, err := netip.ParseAddr(f)
		if err != nil {
			return cursor{}, fmt.Errorf("parse cursor %q: %w", s, err)
		}
		if i == 0 {
			c.last = a
		} else {
			c.next = append(c.next, a)
		}
	}
	if !c.last.IsValid() {
		return cursor{}, fmt.Errorf("parse cursor %q: empty", s)
	}
	return c, nil
}

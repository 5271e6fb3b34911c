package ipam

import (
	"encoding/binary"
	"net/netip"
)

// u128 is an address as a number, so windows can be stepped and sized in one
// operation for IPv4 and IPv6 alike.
type u128 struct{ hi, lo uint64 }

func toU128(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (u u128) addr() netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], u.hi)
	binary.BigEndian.PutUint64(b[8:], u.lo)
	return netip.AddrFrom16(b)
}

func (u u128) add(n uint64) u128 {
	lo := u.lo + n
	hi := u.hi
	if lo < u.lo {
		hi++
	}
	return u128{hi, lo}
}

func (u u128) sub(v u128) u128 {
	lo := u.lo - v.lo
	hi := u.hi - v.hi
	if u.lo < v.lo {
		hi--
	}
	return u128{hi, lo}
}

// addrAdd returns a+n, or ok=false when that leaves the address family.
func addrAdd(a netip.Addr, n uint64) (netip.Addr, bool) {
	if a.Is4() {
		b := a.As4()
		v := uint64(binary.BigEndian.Uint32(b[:]))
		if n > 0xffff_ffff-v {
			return netip.Addr{}, false
		}
		binary.BigEndian.PutUint32(b[:], uint32(v+n))
		return netip.AddrFrom4(b), true
	}
	u := toU128(a)
	r := u.add(n)
	if r.hi < u.hi {
		return netip.Addr{}, false
	}
	return r.addr(), true
}

// addrCount is the number of addresses in [first, last], saturating at the
// largest uint64 (only an IPv6 range wider than 2^64 gets there).
func addrCount(first, last netip.Addr) uint64 {
	d := toU128(last).sub(toU128(first))
	if d.hi != 0 || d.lo == ^uint64(0) {
		return ^uint64(0)
	}
	return d.lo + 1
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// minAddr picks the lower of two addresses.
func minAddr(a, b netip.Addr) netip.Addr {
	if a.Compare(b) <= 0 {
		return a
	}
	return b
}

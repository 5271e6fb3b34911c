package ipam

import (
	"net/netip"
	"slices"
	"testing"
)

func mustSet(t *testing.T, exclude []string, ranges ...[4]string) *RangeSet {
	t.Helper()
	var rs []Range
	for _, r := range ranges {
		rg, err := NewRange(r[0], r[1], r[2], r[3])
		if err != nil {
			t.Fatalf("NewRange(%v): %v", r, err)
		}
		rs = append(rs, rg)
	}
	ex, err := parseExclude(exclude)
	if err != nil {
		t.Fatalf("parseExclude: %v", err)
	}
	s, err := NewRangeSet(rs, ex)
	if err != nil {
		t.Fatalf("NewRangeSet: %v", err)
	}
	return s
}

// order lists every address Windows yields, checking each window's bounds.
func order(t *testing.T, s *RangeSet, after string, size uint64) []string {
	t.Helper()
	var a netip.Addr
	if after != "" {
		a = netip.MustParseAddr(after)
	}
	var out []string
	for w := range s.Windows(a, size) {
		if n := addrCount(w.First, w.Last); n > size {
			t.Fatalf("window %s-%s has %d addresses, more than %d", w.First, w.Last, n, size)
		}
		if !s.Ranges[w.Range].Contains(w.First) || !s.Ranges[w.Range].Contains(w.Last) {
			t.Fatalf("window %s-%s is not inside range %d", w.First, w.Last, w.Range)
		}
		for x := w.First; ; x = x.Next() {
			out = append(out, x.String())
			if x == w.Last {
				break
			}
		}
	}
	return out
}

func TestWindowsOrderAndExclusions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		exclude []string
		ranges  [][4]string
		after   string
		size    uint64
		want    []string
	}{
		{
			name:   "from the start, skipping network and gateway",
			ranges: [][4]string{{"10.0.0.0/29", "", "", ""}},
			want:   []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"},
			size:   2,
		},
		{
			name:   "after the last allocated, wrapping around",
			ranges: [][4]string{{"10.0.0.0/29", "", "", ""}},
			after:  "10.0.0.4",
			size:   64,
			want:   []string{"10.0.0.5", "10.0.0.6", "10.0.0.2", "10.0.0.3", "10.0.0.4"},
		},
		{
			name:   "after the last address of the range wraps to its start",
			ranges: [][4]string{{"10.0.0.0/29", "", "", ""}},
			after:  "10.0.0.6",
			size:   1,
			want:   []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"},
		},
		{
			name:    "exclusions of single addresses and CIDRs",
			exclude: []string{"10.0.0.3", "10.0.0.8/30"},
			ranges:  [][4]string{{"10.0.0.0/28", "", "", "10.0.0.14"}},
			size:    3,
			want:    []string{"10.0.0.1", "10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.12", "10.0.0.13"},
		},
		{
			name:   "a cursor outside the range starts at the next address above it",
			ranges: [][4]string{{"10.0.0.0/24", "10.0.0.50", "10.0.0.53", "10.0.0.254"}},
			after:  "10.0.0.51",
			size:   64,
			want:   []string{"10.0.0.52", "10.0.0.53", "10.0.0.50", "10.0.0.51"},
		},
		{
			name:   "a cursor of another config's range below ours",
			ranges: [][4]string{{"10.0.0.0/24", "10.0.0.50", "10.0.0.52", "10.0.0.254"}},
			after:  "10.0.0.10",
			size:   64,
			want:   []string{"10.0.0.50", "10.0.0.51", "10.0.0.52"},
		},
		{
			name:   "a cursor above every range wraps to the first",
			ranges: [][4]string{{"10.0.0.0/24", "10.0.0.50", "10.0.0.52", "10.0.0.254"}},
			after:  "10.0.0.200",
			size:   64,
			want:   []string{"10.0.0.50", "10.0.0.51", "10.0.0.52"},
		},
		{
			name: "several ranges in config order, resuming in the second",
			ranges: [][4]string{
				{"10.0.1.0/24", "10.0.1.10", "10.0.1.11", ""},
				{"10.0.0.0/24", "10.0.0.10", "10.0.0.12", ""},
			},
			after: "10.0.0.10",
			size:  64,
			want:  []string{"10.0.0.11", "10.0.0.12", "10.0.1.10", "10.0.1.11", "10.0.0.10"},
		},
		{
			name:    "IPv6 with an excluded /126",
			exclude: []string{"2001:db8::4/126"},
			ranges:  [][4]string{{"2001:db8::/125", "", "", ""}},
			after:   "2001:db8::2",
			size:    2,
			want:    []string{"2001:db8::3", "2001:db8::2"},
		},
		{
			name:    "an exclusion covering the whole range leaves nothing",
			exclude: []string{"10.0.0.0/24"},
			ranges:  [][4]string{{"10.0.0.0/24", "", "", ""}},
			size:    64,
			want:    nil,
		},
		{
			name:    "exclusions of the other family are ignored",
			exclude: []string{"2001:db8::/64"},
			ranges:  [][4]string{{"10.0.0.0/30", "", "", ""}},
			size:    64,
			want:    []string{"10.0.0.2"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustSet(t, tc.exclude, tc.ranges...)
			got := order(t, s, tc.after, tc.size)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("order = %v, want %v", got, tc.want)
			}
			if s.Size() != uint64(len(tc.want)) {
				t.Fatalf("Size = %d, want %d", s.Size(), len(tc.want))
			}
			for _, a := range tc.want {
				if !s.Allocatable(netip.MustParseAddr(a)) {
					t.Errorf("%s is yielded but not Allocatable", a)
				}
			}
		})
	}
}

// A /16 yields every host exactly once from any cursor, in windows no
// larger than asked: the iteration is the only thing that walks a pool.
func TestWindowsCoverALargePoolExactlyOnceFromAnyCursor(t *testing.T) {
	s := mustSet(t, []string{"10.1.128.0/24"}, [4]string{"10.1.0.0/16", "", "", ""})
	want := 65536 - 3 - 256 // network, broadcast, gateway, the exclusion
	for _, after := range []string{"", "10.1.0.1", "10.1.127.255", "10.1.128.7", "10.1.255.254", "10.2.0.0"} {
		got := order(t, s, after, DefaultWindow)
		if len(got) != want {
			t.Fatalf("after %q: %d addresses, want %d", after, len(got), want)
		}
		seen := map[string]bool{}
		for _, a := range got {
			if seen[a] {
				t.Fatalf("after %q: %s yielded twice", after, a)
			}
			seen[a] = true
		}
	}
}

func TestNewRangeSetRejectsMixedFamiliesAndOverlaps(t *testing.T) {
	a, _ := NewRange("10.0.0.0/24", "10.0.0.10", "10.0.0.20", "")
	b, _ := NewRange("10.0.0.0/24", "10.0.0.15", "10.0.0.30", "")
	c, _ := NewRange("2001:db8::/64", "", "", "")
	if _, err := NewRangeSet([]Range{a, b}, nil); err == nil {
		t.Error("overlapping ranges accepted")
	}
	if _, err := NewRangeSet([]Range{a, c}, nil); err == nil {
		t.Error("mixed families accepted")
	}
	if _, err := NewRangeSet(nil, nil); err == nil {
		t.Error("an empty range set accepted")
	}
}

func TestRangeForAcceptsStaticAddressesOutsideTheRange(t *testing.T) {
	s := mustSet(t, []string{"10.0.0.200/29"}, [4]string{"10.0.0.0/24", "10.0.0.50", "10.0.0.70", "10.0.0.254"})
	for a, want := range map[string]bool{
		"10.0.0.60":  true,  // in the range
		"10.0.0.100": true,  // in the subnet, outside the range
		"10.0.0.201": true,  // excluded from dynamic allocation only
		"10.0.0.254": false, // gateway
		"10.0.0.0":   false, // network
		"10.0.0.255": false, // broadcast
	} {
		idx, ok := s.RangeFor(netip.MustParseAddr(a))
		if idx != 0 || ok != want {
			t.Errorf("RangeFor(%s) = %d,%v, want 0,%v", a, idx, ok, want)
		}
	}
	if idx, _ := s.RangeFor(netip.MustParseAddr("10.0.1.1")); idx != -1 {
		t.Errorf("RangeFor of another subnet = %d, want -1", idx)
	}
	if s.Allocatable(netip.MustParseAddr("10.0.0.201")) || s.Allocatable(netip.MustParseAddr("10.0.0.100")) {
		t.Error("an excluded or out-of-range address is dynamically allocatable")
	}
}

// Whatever the range, exclusions and cursor, the windows yield every
// allocatable address exactly once and nothing else.
func FuzzRangeSetWindows(f *testing.F) {
	f.Add(uint32(0x0a000000), uint8(24), uint16(10), uint16(200), uint32(0x0a000032), uint8(30), uint16(77), uint8(7), false)
	f.Add(uint32(0xc0a80000), uint8(22), uint16(0), uint16(0), uint32(0xc0a80100), uint8(24), uint16(3), uint8(64), false)
	f.Add(uint32(0x20010db8), uint8(118), uint16(5), uint16(900), uint32(0x20010db8), uint8(125), uint16(600), uint8(1), true)
	f.Fuzz(func(t *testing.T, base uint32, bits uint8, start, end uint16, exBase uint32, exBits uint8, cursorOff uint16, size uint8, v6 bool) {
		var prefix netip.Prefix
		if v6 {
			bits = 116 + bits%11 // at most 4096 addresses
			var b [16]byte
			b[0], b[1], b[2], b[3] = byte(base>>24), byte(base>>16), byte(base>>8), byte(base)
			prefix = netip.PrefixFrom(netip.AddrFrom16(b), int(bits)).Masked()
		} else {
			bits = 20 + bits%11
			prefix = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(base >> 24), byte(base >> 16), byte(base >> 8), byte(base)}), int(bits)).Masked()
		}
		offset := func(n uint16) string {
			a, ok := addrAdd(prefix.Addr(), uint64(n)%addrCount(prefix.Addr(), lastAddr(prefix)))
			if !ok {
				t.Skip()
			}
			return a.String()
		}
		var s, e string
		if start != 0 {
			s = offset(start)
		}
		if end != 0 {
			e = offset(end)
		}
		r, err := NewRange(prefix.String(), s, e, "")
		if err != nil {
			return // rejected ranges are the config tests' business
		}
		exAddr, _ := netip.ParseAddr(offset(uint16(exBase)))
		ex := netip.PrefixFrom(exAddr, min(int(exBits)%(prefix.Addr().BitLen()+1)+int(bits), prefix.Addr().BitLen())).Masked()
		set, err := NewRangeSet([]Range{r}, []netip.Prefix{ex})
		if err != nil {
			t.Fatalf("NewRangeSet(%s, exclude %s): %v", r, ex, err)
		}
		cursor, _ := netip.ParseAddr(offset(cursorOff))
		seen := map[netip.Addr]bool{}
		for w := range set.Windows(cursor, uint64(size%65)+1) {
			for a := w.First; ; a = a.Next() {
				if seen[a] {
					t.Fatalf("%s yielded twice", a)
				}
				seen[a] = true
				if !r.Contains(a) || r.Reserved(a) || ex.Contains(a) {
					t.Fatalf("%s yielded but not allocatable (range %s, exclude %s)", a, r, ex)
				}
				if a == w.Last {
					break
				}
			}
		}
		if uint64(len(seen)) != set.Size() {
			t.Fatalf("%d addresses yielded, Size says %d", len(seen), set.Size())
		}
		want := 0
		for a := r.Start; ; a = a.Next() {
			if !r.Reserved(a) && !ex.Contains(a) {
				want++
			}
			if a == r.End {
				break
			}
		}
		if len(seen) != want {
			t.Fatalf("%d addresses yielded, %d allocatable in %s minus %s", len(seen), want, r, ex)
		}
	})
}

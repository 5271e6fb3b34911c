package soak

import (
	"testing"
	"time"
)

// Every kill's delay falls within an ADD as long as a measured one, so a
// kill armed for the next ADD can land in it.
func TestKillDelaysFallWithinMeasuredADDs(t *testing.T) {
	ds := []time.Duration{40 * time.Millisecond, 90 * time.Millisecond, 300 * time.Millisecond}
	delays := killDelays(ds, 1000)
	if len(delays) != 1000 {
		t.Fatalf("%d delays for 1000 kills", len(delays))
	}
	var early int
	for _, d := range delays {
		if d < 0 || d > ds[len(ds)-1] {
			t.Fatalf("delay %s outside 0..%s", d, ds[len(ds)-1])
		}
		if d <= ds[0] {
			early++
		}
	}
	// A point of a random ADD lands within the shortest one about
	// (1 + 40/90 + 40/300)/3 = 53% of the time.
	if early < 400 || early > 650 {
		t.Errorf("%d of 1000 delays within the shortest ADD (%s), want about 530", early, ds[0])
	}
}

package metacni

import "time"

// phaseClock times the steps of one verb for the debug log, which is how
// an operator finds out where a slow ADD spent its time.
type phaseClock struct {
	last   time.Time
	start  time.Time
	attrs_ []any
}

func newPhaseClock() *phaseClock {
	now := time.Now()
	return &phaseClock{last: now, start: now}
}

func (c *phaseClock) mark(phase string) {
	now := time.Now()
	c.attrs_ = append(c.attrs_, phase, now.Sub(c.last).Round(10*time.Microsecond).String())
	c.last = now
}

func (c *phaseClock) attrs() []any {
	return append(c.attrs_, "total", time.Since(c.start).Round(10*time.Microsecond).String())
}

package testenv

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Latencies are the durations of a benchmark's operations.
type Latencies []time.Duration

// Percentile returns the p-th quantile (0 to 1) in milliseconds, and 0
// when there are none (a run in which nothing succeeded has no latency;
// its report says so from its count, not from this figure).
func (l Latencies) Percentile(p float64) float64 {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return float64(s[int(p*float64(len(s)-1))].Microseconds()) / 1000
}

// RunConcurrent runs op for i in 0..n-1 with conc workers and returns each
// run's latency and the wall time of the whole batch. The first error stops
// the workers and is returned.
func RunConcurrent(n, conc int, op func(i int) error) (Latencies, time.Duration, error) {
	lat := make(Latencies, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	var failed atomic.Bool
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := op(i); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("operation %d: %w", i, err) })
					failed.Store(true)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	return lat, time.Since(start), firstErr
}

// ReportThroughput runs op n times with conc workers and reports
// operations/s under unit and the p50 and p95 latencies as benchmark metrics.
func ReportThroughput(b *testing.B, n, conc int, unit string, op func(i int) error) {
	b.Helper()
	b.ResetTimer()
	lat, wall, err := RunConcurrent(n, conc, op)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/wall.Seconds(), unit)
	b.ReportMetric(lat.Percentile(0.50), "p50-ms")
	b.ReportMetric(lat.Percentile(0.95), "p95-ms")
	b.ReportMetric(0, "ns/op")
}

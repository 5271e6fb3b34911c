package testenv

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentilePicksTheQuantileOfSortedLatencies(t *testing.T) {
	l := Latencies{5 * time.Millisecond, 1 * time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}
	if p := l.Percentile(0.5); p != 3 {
		t.Errorf("p50 %v, want 3", p)
	}
	if p := l.Percentile(1); p != 5 {
		t.Errorf("p100 %v, want 5", p)
	}
	if l[0] != 5*time.Millisecond {
		t.Error("Percentile sorted the caller's slice")
	}
}

func TestRunConcurrentRunsEveryOperationOnceAndStopsAtTheFirstError(t *testing.T) {
	var runs atomic.Int64
	lat, _, err := RunConcurrent(50, 8, func(int) error { runs.Add(1); return nil })
	if err != nil || runs.Load() != 50 || len(lat) != 50 {
		t.Fatalf("runs %d, latencies %d, err %v", runs.Load(), len(lat), err)
	}
	boom := errors.New("boom")
	_, _, err = RunConcurrent(50, 4, func(i int) error {
		if i == 10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
}

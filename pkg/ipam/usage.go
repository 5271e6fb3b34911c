package ipam

import (
	"context"
	"fmt"
)

// SetUsage is how much of one range set is handed out.
type SetUsage struct {
	RangeSet string
	Total    uint64
	Used     uint64
	Free     uint64
}

// Usage counts the allocated addresses of each of cfg's range sets with
// count-only range reads, one per allocatable span, all in one
// transaction: no key or value is read, so the cost is the number of spans,
// not the size of the pool. An address held in the subnet but outside the
// set's spans (a static address, or another config's range) is not counted;
// one in the spans is, whichever config handed it out.
func Usage(ctx context.Context, kv KV, cfg *Config) ([]SetUsage, error) {
	var ops []Op
	scope := NewScope(cfg.Etcd.Prefix, cfg.Network)
	for _, set := range cfg.RangeSets {
		for _, w := range set.Spans() {
			ops = append(ops, CountRange(scope.WindowRange(w.First, w.Last)))
		}
	}
	resp, err := kv.Txn(ctx, nil, ops, nil)
	if err != nil {
		return nil, fmt.Errorf("count allocations: %w", err)
	}
	if len(resp.Responses) != len(ops) {
		return nil, fmt.Errorf("count allocations: etcd answered %d of %d range reads", len(resp.Responses), len(ops))
	}
	out := make([]SetUsage, 0, len(cfg.RangeSets))
	i := 0
	for _, set := range cfg.RangeSets {
		u := SetUsage{RangeSet: set.String(), Total: set.Size()}
		for range set.Spans() {
			u.Used += uint64(resp.Responses[i].Count)
			i++
		}
		u.Free = u.Total - min(u.Used, u.Total)
		out = append(out, u)
	}
	return out, nil
}

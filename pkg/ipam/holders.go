package ipam

import (
	"context"
	"fmt"
	"strings"
)

// Holding is one container interface's allocation, across every pool and
// network under the store's prefix.
type Holding struct {
	Allocation
	Key string // the owner key
}

// OwnersPrefix is the key prefix of every owner key under prefix.
func OwnersPrefix(prefix string) string { return prefix + "/owners/" }

// Holders reads every owner key under the store's prefix, a page at a time:
// one holding per (containerID, ifname), whatever its pools or network. It
// reads them all, so it serves the reconciler and inspection, never ADD.
func (s *Store) Holders(ctx context.Context) ([]Holding, error) {
	var out []Holding
	start := OwnersPrefix(s.Prefix)
	key, end := start, prefixEnd(start)
	for {
		resp, err := s.txn(ctx, nil, []Op{GetRange(key, end, 512)}, nil)
		if err != nil {
			return nil, fmt.Errorf("list owners under %s: %w", start, err)
		}
		r := resp.Responses[0]
		for _, kv := range r.Kvs {
			alloc, err := decodeAllocation(kv.Value)
			if err != nil {
				// One corrupt record must not hide the rest; it has no
				// owner to check, so it is left for an operator.
				s.Log.Warn("skip undecodable owner record", "key", string(kv.Key), "err", err)
				continue
			}
			if alloc.ContainerID == "" || alloc.IfName == "" {
				id, ifName, ok := strings.Cut(strings.TrimPrefix(string(kv.Key), start), "/")
				if ok {
					alloc.ContainerID, alloc.IfName = id, ifName
				}
			}
			out = append(out, Holding{Allocation: alloc, Key: string(kv.Key)})
		}
		if !r.More || len(r.Kvs) == 0 {
			return out, nil
		}
		key = string(r.Kvs[len(r.Kvs)-1].Key) + "\x00"
	}
}

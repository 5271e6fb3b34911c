package ipam

import (
	"context"
	"fmt"
	"net/netip"
)

// Release frees what one container interface owns. It deletes the owner key
// and its address keys in one transaction guarded by the owner's
// ModRevision, and deletes an address key only while it was created with
// the owner: never by address alone. Releasing nothing is not an error.
func (s *Store) Release(ctx context.Context, containerID, ifName string) (released []netip.Addr, err error) {
	ownerKey := OwnerKey(s.Prefix, containerID, ifName)
	resp, err := s.txn(ctx, nil, []Op{Get(ownerKey)}, nil)
	if err != nil {
		return nil, err
	}
	kvs := resp.Responses[0].Kvs
	// revs holds, after a failed attempt, the CreateRevision found on each
	// address key, so the next attempt skips keys that are no longer ours.
	var revs map[string]int64
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if len(kvs) == 0 {
			return nil, nil
		}
		owner := kvs[0]
		alloc, err := decodeAllocation(owner.Value)
		if err != nil {
			return nil, fmt.Errorf("decode allocation %s: %w", ownerKey, err)
		}
		// Two passes: the first assumes every address is still ours; if an
		// operator freed one and it was handed out again, the second skips it.
		cmps := []Cmp{ModIs(ownerKey, owner.ModRevision)}
		dels := []Op{Delete(ownerKey)}
		gets := []Op{Get(ownerKey)}
		var mine []netip.Addr
		for _, oa := range alloc.Addrs {
			gets = append(gets, Get(oa.Key))
			cur, ok := revs[oa.Key]
			if ok && cur != owner.CreateRevision {
				cmps = append(cmps, CreateIsNot(oa.Key, owner.CreateRevision))
				continue
			}
			cmps = append(cmps, CreateIs(oa.Key, owner.CreateRevision))
			dels = append(dels, Delete(oa.Key))
			mine = append(mine, oa.Addr)
		}
		resp, err := s.txn(ctx, cmps, dels, gets)
		if err != nil {
			return nil, err
		}
		if resp.Succeeded {
			return mine, nil
		}
		kvs = resp.Responses[0].Kvs
		revs = map[string]int64{}
		for i, oa := range alloc.Addrs {
			rev := int64(0)
			if got := resp.Responses[i+1].Kvs; len(got) > 0 {
				rev = got[0].CreateRevision
			}
			revs[oa.Key] = rev
		}
	}
	return nil, &ContendedError{What: "release container " + containerID + " interface " + ifName, Attempts: maxAttempts}
}

// Held is an owner's allocation as etcd has it, with whether each address
// key still belongs to it.
type Held struct {
	Allocation
	Missing []netip.Addr // addresses in the owner record whose key is gone or another's
}

// Lookup reads an owner's allocation in one linearizable transaction, or
// returns nil when there is none.
func (s *Store) Lookup(ctx context.Context, containerID, ifName string) (*Held, error) {
	ownerKey := OwnerKey(s.Prefix, containerID, ifName)
	resp, err := s.txn(ctx, nil, []Op{Get(ownerKey)}, nil)
	if err != nil {
		return nil, err
	}
	kvs := resp.Responses[0].Kvs
	if len(kvs) == 0 {
		return nil, nil
	}
	alloc, err := decodeAllocation(kvs[0].Value)
	if err != nil {
		return nil, fmt.Errorf("decode allocation %s: %w", ownerKey, err)
	}
	h := &Held{Allocation: alloc}
	var gets []Op
	for _, oa := range alloc.Addrs {
		gets = append(gets, Get(oa.Key))
	}
	resp, err = s.txn(ctx, nil, gets, nil)
	if err != nil {
		return nil, err
	}
	for i, oa := range alloc.Addrs {
		got := resp.Responses[i].Kvs
		if len(got) == 0 || got[0].CreateRevision != kvs[0].CreateRevision {
			h.Missing = append(h.Missing, oa.Addr)
		}
	}
	return h, nil
}

// PoolEntry is one allocated address of a pool.
type PoolEntry struct {
	Addr netip.Addr
	Record
}

// List reads every allocated address of a pool's subnet in its scope, a
// page at a time, whichever config handed it out. It reads the whole
// subnet, so it serves inspection and GC, never ADD.
func (s *Store) List(ctx context.Context, pool Pool) ([]PoolEntry, error) {
	var out []PoolEntry
	key, end := pool.KeyRange()
	for {
		resp, err := s.txn(ctx, nil, []Op{GetRange(key, end, 512)}, nil)
		if err != nil {
			return nil, fmt.Errorf("list %s under %s: %w", pool.Subnet, pool.Key, err)
		}
		r := resp.Responses[0]
		for _, kv := range r.Kvs {
			out = append(out, entry(pool.Scope, kv))
		}
		if !r.More || len(r.Kvs) == 0 {
			return out, nil
		}
		key = string(r.Kvs[len(r.Kvs)-1].Key) + "\x00"
	}
}

func entry(scope Scope, kv KeyValue) PoolEntry {
	a, _ := scope.AddrFromKey(string(kv.Key))
	rec, _ := decodeRecord(kv.Value)
	return PoolEntry{Addr: a, Record: rec}
}

// GC releases the allocations of one network (by its name) in pools that
// node holds and that are not in valid, the attachments the runtime still
// knows for that network. Other nodes and other networks sharing a subnet
// are left alone: the runtime lists only this network's attachments.
func (s *Store) GC(ctx context.Context, pools []Pool, node, network string, valid map[[2]string]bool) ([]netip.Addr, error) {
	if node == "" {
		// Records without a node would all match, whichever node made them.
		return nil, fmt.Errorf("gc network %q: no node name to match allocations by", network)
	}
	var released []netip.Addr
	seen := map[[2]string]bool{}
	for _, pool := range pools {
		entries, err := s.List(ctx, pool)
		if err != nil {
			return released, err
		}
		for _, e := range entries {
			id := [2]string{e.ContainerID, e.IfName}
			if e.Node != node || e.Network != network || valid[id] || seen[id] || e.ContainerID == "" {
				continue
			}
			seen[id] = true
			addrs, err := s.Release(ctx, e.ContainerID, e.IfName)
			if err != nil {
				return released, err
			}
			s.Log.Info("gc released allocation", "containerID", e.ContainerID, "ifname", e.IfName, "addrs", addrs)
			released = append(released, addrs...)
		}
	}
	return released, nil
}

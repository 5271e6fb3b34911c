package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meta-cni/meta-cni/pkg/delegate"
	"github.com/meta-cni/meta-cni/pkg/ipam"
)

// allocations reads etcd-ipam's keys under the chart's prefix: address
// keys (one per address, naming its holder) and owner keys (one per
// container interface, listing its addresses). Each must point at the
// other; an address two owners list is a duplicate.
func (m *metaCNI) allocations(ctx context.Context, c *cluster) ([]allocation, []violation, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.etcd.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		return nil, nil, fmt.Errorf("etcd client: %w", err)
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, ipamPrefix+"/", clientv3.WithPrefix())
	if err != nil {
		return nil, nil, fmt.Errorf("read etcd-ipam keys under %s: %w", ipamPrefix, err)
	}
	addrKeys := map[string]ipam.Record{}
	owners := map[string]ipam.Allocation{}
	for _, kv := range resp.Kvs {
		key := string(kv.Key)
		switch {
		case strings.Contains(key, "/owners/"):
			var a ipam.Allocation
			if err := json.Unmarshal(kv.Value, &a); err != nil {
				return nil, nil, fmt.Errorf("owner key %s: %w", key, err)
			}
			owners[key] = a
		case strings.Contains(key, "/ipv4/") || strings.Contains(key, "/ipv6/"):
			var r ipam.Record
			if err := json.Unmarshal(kv.Value, &r); err != nil {
				return nil, nil, fmt.Errorf("address key %s: %w", key, err)
			}
			addrKeys[key] = r
		}
	}
	var out []allocation
	var faults []violation
	claimedBy := map[string]string{} // address key -> owner key
	for okey, a := range owners {
		pod := a.PodNamespace + "/" + a.PodName
		for _, oa := range a.Addrs {
			if other, dup := claimedBy[oa.Key]; dup {
				faults = append(faults, violation{Kind: duplicateAddress, Detail: fmt.Sprintf("etcd: %s is listed by owners %s and %s", oa.Addr, other, okey)})
				continue
			}
			claimedBy[oa.Key] = okey
			r, ok := addrKeys[oa.Key]
			if !ok || r.ContainerID != a.ContainerID || r.IfName != a.IfName {
				faults = append(faults, violation{Kind: storeMismatch, Detail: fmt.Sprintf("etcd: owner %s lists %s, whose key %s does not name it back", okey, oa.Addr, oa.Key)})
			}
			out = append(out, allocation{Addr: oa.Addr, ContainerID: a.ContainerID, IfName: a.IfName, Pod: pod})
		}
	}
	for key, r := range addrKeys {
		if _, ok := claimedBy[key]; ok {
			continue
		}
		addr, _ := addrFromKey(key)
		faults = append(faults, violation{Kind: leakedAllocation, Detail: fmt.Sprintf("etcd: address key %s (%s) names container %s %s, which lists no such address", key, addr, r.ContainerID, r.IfName)})
	}
	return out, faults, nil
}

// addrFromKey reads the address at the end of an address key.
func addrFromKey(key string) (netip.Addr, error) {
	for _, fam := range []string{"/ipv4/", "/ipv6/"} {
		if i := strings.LastIndex(key, fam); i >= 0 {
			return ipam.Scope{Key: key[:i]}.AddrFromKey(key)
		}
	}
	return netip.Addr{}, fmt.Errorf("%s is no address key", key)
}

// nodeRecords lists meta-cni's attachment records (config.cacheDir) and
// the node API's network-status journal (next to its socket).
func (m *metaCNI) nodeRecords(n *node) ([]nodeRecord, error) {
	store := delegate.RecordStore{Dir: n.path("/var/lib/meta-cni/attachments")}
	recs, err := store.List()
	if err != nil {
		return nil, err
	}
	var out []nodeRecord
	for _, r := range recs {
		out = append(out, nodeRecord{Kind: "attachment record", Path: filepath.Join(store.Dir, r.ContainerID+".json"),
			ContainerID: r.ContainerID, Pod: r.PodNamespace + "/" + r.PodName})
	}
	dir := n.path("/run/meta-cni/network-status")
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		var p struct{ Namespace, Name string }
		b, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(b, &p)
		}
		if err != nil {
			if os.IsNotExist(err) {
				continue // applied while listing
			}
			p.Name = "unreadable: " + err.Error()
		}
		out = append(out, nodeRecord{Kind: "network-status journal entry", Path: path, Pod: p.Namespace + "/" + p.Name})
	}
	return out, nil
}

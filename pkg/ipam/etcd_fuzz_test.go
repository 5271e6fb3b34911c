package ipam

import (
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// FuzzAddrFromKey reads keys as a range read returns them from etcd, which
// anyone with write access to the prefix can fill: a key read as an
// address must be exactly that address's key, so key order stays address
// order and the key a transaction guards is the key that was read.
func FuzzAddrFromKey(f *testing.F) {
	s := NewScope(DefaultPrefix, "")
	for _, k := range []string{
		s.IPKey(netip.MustParseAddr("10.0.0.1")),
		s.IPKey(netip.MustParseAddr("fd00::1")),
		s.Key + "/ipv4/10.0.0.1",
		s.Key + "/ipv4/010.000.000.0001",
		s.Key + "/ipv4/256.000.000.001",
		s.Key + "/ipv6/::1",
		s.Key + "/ipv6/fe80:0000:0000:0000:0000:0000:0000:0001%eth0",
		s.Key + "/ipv6/010.000.000.001",
		s.Key + "/ipv4/0000:0000:0000:0000:0000:ffff:0a00:0001",
		s.Key + "/networks/rack1/ipv4/010.000.000.001",
		s.Key + "/owners/c1/net1",
	} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		a, err := s.AddrFromKey(key)
		if err != nil {
			if a.IsValid() {
				t.Fatalf("AddrFromKey(%q) = %s with error %v", key, a, err)
			}
			return
		}
		if s.IPKey(a) != key {
			t.Fatalf("AddrFromKey(%q) = %s, whose key is %q", key, a, s.IPKey(a))
		}
	})
}

// FuzzDecodeAllocation reads owner and address values as etcd returns them:
// what decodes must encode back to a value that decodes the same, since
// DEL's transaction is built from the decoded addresses' keys.
func FuzzDecodeAllocation(f *testing.F) {
	s := NewScope(DefaultPrefix, "")
	good, err := json.Marshal(Allocation{
		Record: Record{ContainerID: "c1", IfName: "net1", PodNamespace: "ns", PodName: "p", PodUID: "u", Node: "n1", Network: "macvlan"},
		Addrs: []OwnedAddr{{Key: s.IPKey(netip.MustParseAddr("10.0.0.5")), Addr: netip.MustParseAddr("10.0.0.5"), Subnet: netip.MustParsePrefix("10.0.0.0/24")},
			{Key: s.IPKey(netip.MustParseAddr("fd00::5")), Addr: netip.MustParseAddr("fd00::5"), Subnet: netip.MustParsePrefix("fd00::/64")}},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"containerID":"c1","ifname":"net1","time":"2026-12-01T00:00:00Z","ips":[{"key":"/x","ip":"","subnet":""}]}`))
	f.Add([]byte(`{"ips":[{"ip":"10.0.0.1%eth0","subnet":"10.0.0.0/33"}]}`))
	f.Add([]byte(`{"time":"not a time"}`))
	f.Add([]byte(`{"containerID":"c1","ContainerID":"c2"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, value []byte) {
		a, err := decodeAllocation(value)
		if err != nil {
			return
		}
		again, err := json.Marshal(a)
		if err != nil {
			// A time.Time out of JSON's range (year above 9999) decodes but
			// does not encode: the store never writes one, so it is only
			// unreadable, not dangerous.
			if strings.Contains(err.Error(), "Time.MarshalJSON") {
				return
			}
			t.Fatalf("decoded allocation %+v does not encode: %v", a, err)
		}
		b, err := decodeAllocation(again)
		if err != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("allocation %s reads back as %+v (%v), want %+v", again, b, err, a)
		}
		r, err := decodeRecord(value)
		if err != nil || r != a.Record {
			t.Fatalf("the same value decodes as record %+v (%v), as allocation %+v", r, err, a.Record)
		}
	})
}

// FuzzParseCNIArgs: etcd-ipam's CNI_ARGS, what the runtime and meta-cni
// pass. Pairs joined as the runtime joins them read back as those pairs,
// the last of a repeated key winning; anything else is a config error
// naming CNI_ARGS.
func FuzzParseCNIArgs(f *testing.F) {
	for _, s := range []string{
		"", "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=c",
		"IP=10.0.0.7", "IP=10.0.0.7,fd00::7;MAC=02:00:00:00:00:01", ";;", "novalue", "=v", "K=a=b", "K=1;K=2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseCNIArgs(s)
		if err != nil {
			var ce *ConfigError
			if m != nil || !errors.As(err, &ce) || ce.Field != "CNI_ARGS" {
				t.Fatalf("parseCNIArgs(%q) = %v, %v; want a CNI_ARGS ConfigError", s, m, err)
			}
			return
		}
		want := map[string]string{}
		for _, pair := range strings.Split(s, ";") {
			if k, v, ok := strings.Cut(pair, "="); ok {
				want[k] = v
			} else if pair != "" {
				t.Fatalf("parseCNIArgs(%q) accepted %q", s, pair)
			}
		}
		if !reflect.DeepEqual(m, want) {
			t.Fatalf("parseCNIArgs(%q) = %v, want %v", s, m, want)
		}
	})
}

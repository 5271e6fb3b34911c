package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/testutils"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/ipam"
)

func TestAddCheckDelThroughTheBinaryAtEveryCNIVersion(t *testing.T) {
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	for i, ver := range testutils.AllSpecVersions {
		t.Run(ver, func(t *testing.T) {
			cid := fmt.Sprintf("ctr-%d", i)
			conf := r.conf(ver, map[string]any{
				"subnet": "10.10.20.0/24", "rangeStart": "10.10.20.50", "rangeEnd": "10.10.20.70",
				"gateway": "10.10.20.254", "routes": []any{map[string]any{"dst": "0.0.0.0/0"}},
			})
			out := r.mustExec("ADD", cid, "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web-"+ver, conf)
			got := ips(t, ver, out)
			if len(got) != 1 {
				t.Fatalf("ADD returned %v", got)
			}
			p := netip.MustParsePrefix(got[0])
			if p.Bits() != 24 || p.Addr().Compare(netip.MustParseAddr("10.10.20.50")) < 0 || p.Addr().Compare(netip.MustParseAddr("10.10.20.70")) > 0 {
				t.Fatalf("ADD returned %s, outside 10.10.20.50-70/24", p)
			}
			if !strings.Contains(string(out), `"10.10.20.254"`) {
				t.Errorf("result lacks the gateway: %s", out)
			}
			if len(r.keys("/owners/"+cid+"/")) != 1 {
				t.Fatalf("no owner key for %s", cid)
			}
			checks := ver >= "0.4.0"
			if checks {
				r.mustExec("CHECK", cid, "", withPrev(t, conf, out))
			}
			r.mustExec("DEL", cid, "", conf)
			if len(r.allocationKeys()) != 0 {
				t.Fatalf("keys left after DEL: %v", r.allocationKeys())
			}
			r.mustExec("DEL", cid, "", conf) // idempotent
			if checks {
				_, err := r.exec("CHECK", cid, "", withPrev(t, conf, out))
				if code, msg := cniCode(t, err); code != 3 {
					t.Fatalf("CHECK after DEL: code %d (%s), want 3", code, msg)
				}
			}
		})
	}
}

func TestCheckFailsWhenPrevResultDiffersFromEtcd(t *testing.T) {
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	conf := r.conf("1.0.0", map[string]any{"subnet": "10.0.0.0/24"})
	out := r.mustExec("ADD", "c1", "", conf)
	forged := []byte(strings.Replace(string(out), "10.0.0.2/24", "10.0.0.99/24", 1))
	if string(forged) == string(out) {
		t.Fatalf("first address is not 10.0.0.2: %s", out)
	}
	_, err := r.exec("CHECK", "c1", "", withPrev(t, conf, forged))
	if code, msg := cniCode(t, err); code != ipam.CodeAllocationMismatch || !strings.Contains(msg, "10.0.0.99") {
		t.Fatalf("CHECK with a forged prevResult: code %d %q", code, msg)
	}
}

func TestRepeatedAddReturnsTheSameAddress(t *testing.T) {
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	conf := r.conf("1.1.0", map[string]any{"ranges": [][]map[string]string{{{"subnet": "10.0.0.0/24"}}, {{"subnet": "fd00::/120"}}}})
	a := ips(t, "1.1.0", r.mustExec("ADD", "c1", "", conf))
	b := ips(t, "1.1.0", r.mustExec("ADD", "c1", "", conf))
	if !slices.Equal(a, b) || len(a) != 2 {
		t.Fatalf("first ADD %v, repeat %v", a, b)
	}
	if n := len(r.keys("/owners/")); n != 1 {
		t.Fatalf("%d owners after a repeated ADD", n)
	}
}

func TestStaticAddressesAreReservedFromEverySource(t *testing.T) {
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	// The excluded block is kept for static pods, which the opt-in allows.
	base := map[string]any{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.10", "rangeEnd": "10.0.0.50", "exclude": []string{"10.0.0.200/29"}, "staticAnywhereInSubnet": true}
	conf := r.conf("1.0.0", base)
	for _, tc := range []struct {
		name, cid, args, want string
		conf                  []byte
	}{
		{"CNI_ARGS IP", "s1", "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p1;IP=10.0.0.201", "10.0.0.201/24", conf},
		{"args.cni.ips", "s2", "", "10.0.0.202/24", withField(t, conf, "args", map[string]any{"cni": map[string]any{"ips": []string{"10.0.0.202"}}})},
		{"runtimeConfig.ips", "s3", "", "10.0.0.20/24", withField(t, conf, "runtimeConfig", map[string]any{"ips": []string{"10.0.0.20/24"}})},
	} {
		got := ips(t, "1.0.0", r.mustExec("ADD", tc.cid, tc.args, tc.conf))
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: ADD got %v, want %s", tc.name, got, tc.want)
		}
	}
	// .20 is reserved now: dynamic ADDs walk past it.
	for i := 0; i < 12; i++ {
		if got := ips(t, "1.0.0", r.mustExec("ADD", fmt.Sprint("d", i), "", conf)); got[0] == "10.0.0.20/24" {
			t.Fatal("a dynamic ADD got the reserved 10.0.0.20")
		}
	}
	_, err := r.exec("ADD", "other", "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p9;IP=10.0.0.201", conf)
	code, msg := cniCode(t, err)
	if code != ipam.CodeAddressOwned || !strings.Contains(msg, "pod ns/p1") || !strings.Contains(msg, "container s1") {
		t.Fatalf("conflicting static ADD: code %d %q", code, msg)
	}
	if n := len(r.keys("/owners/other/")); n != 0 {
		t.Fatal("the failed static ADD left an owner key")
	}
	_, err = r.exec("ADD", "far", "IP=10.9.9.9", conf)
	if code, msg := cniCode(t, err); code != 7 || !strings.Contains(msg, "CNI_ARGS IP") {
		t.Fatalf("static address outside the subnet: code %d %q", code, msg)
	}
}

func TestExhaustionNamesTheRangeAndItsSize(t *testing.T) {
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	conf := r.conf("1.0.0", map[string]any{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.10", "rangeEnd": "10.0.0.14", "exclude": []string{"10.0.0.12"}})
	for i := 0; i < 4; i++ {
		r.mustExec("ADD", fmt.Sprint("c", i), "", conf)
	}
	_, err := r.exec("ADD", "c4", "", conf)
	code, msg := cniCode(t, err)
	if code != ipam.CodeRangeFull || !strings.Contains(msg, "10.0.0.10-10.0.0.14 in 10.0.0.0/24") || !strings.Contains(msg, "all 4 ") {
		t.Fatalf("ADD on a full range: code %d %q", code, msg)
	}
}

func TestDualStackAddIsAllOrNothing(t *testing.T) {
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	conf := r.conf("1.0.0", map[string]any{"ranges": [][]map[string]string{
		{{"subnet": "10.0.0.0/24"}},
		{{"subnet": "fd00::/120", "rangeStart": "fd00::10", "rangeEnd": "fd00::11"}},
	}})
	for _, cid := range []string{"a", "b"} {
		if got := ips(t, "1.0.0", r.mustExec("ADD", cid, "", conf)); len(got) != 2 {
			t.Fatalf("dual-stack ADD returned %v", got)
		}
	}
	before := r.keys("/")
	_, err := r.exec("ADD", "c", "", conf)
	if code, _ := cniCode(t, err); code != ipam.CodeRangeFull {
		t.Fatalf("ADD with v6 full: code %d", code)
	}
	if after := r.keys("/"); !slices.Equal(before, after) {
		t.Fatalf("the failed ADD wrote keys:\nbefore %v\nafter  %v", before, after)
	}
}

func TestGCReleasesThisNodesAllocationsMissingFromValidAttachments(t *testing.T) {
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	mine := r.conf("1.1.0", map[string]any{"subnet": "10.0.0.0/24", "nodeName": "node-a"})
	theirs := r.conf("1.1.0", map[string]any{"subnet": "10.0.0.0/24", "nodeName": "node-b"})
	for _, cid := range []string{"live", "gone1", "gone2"} {
		r.mustExec("ADD", cid, "", mine)
	}
	r.mustExec("ADD", "elsewhere", "", theirs)
	// Another network on the same subnet and node is not this GC's business.
	r.mustExec("ADD", "storage", "", withField(t, mine, "name", "storage"))
	gc := withField(t, mine, "cni.dev/valid-attachments", []map[string]string{{"containerID": "live", "ifname": "net1"}})
	r.mustExec("GC", "", "", gc)
	var owners []string
	for _, k := range r.keys("/owners/") {
		owners = append(owners, strings.Split(strings.TrimPrefix(k, r.prefix+"/owners/"), "/")[0])
	}
	if strings.Join(owners, ",") != "elsewhere,live,storage" {
		t.Fatalf("owners after GC: %v, want elsewhere, live and storage", owners)
	}
	if n := len(r.keys("/ipv4/")); n != 3 {
		t.Fatalf("%d addresses after GC, want 3", n)
	}
}

func TestStatusReportsWhetherEtcdAnswers(t *testing.T) {
	c := testenv.StartEtcdClusterRetry(t, 1, nil)
	r := newRig(t, c)
	// A loaded machine can keep a healthy etcd from answering within 1s,
	// so only the down case runs on the short budget.
	up := r.conf("1.1.0", map[string]any{"subnet": "10.0.0.0/24", "etcd": map[string]any{"endpoints": c.Endpoints(), "requestTimeout": "10s"}})
	down := r.conf("1.1.0", map[string]any{"subnet": "10.0.0.0/24", "etcd": map[string]any{"endpoints": c.Endpoints(), "requestTimeout": "1s"}})
	r.mustExec("STATUS", "", "", up)
	c.Members[0].Stop()
	_, err := r.exec("STATUS", "", "", down)
	if code, msg := cniCode(t, err); code != 50 {
		t.Fatalf("STATUS with etcd down: code %d %q, want 50", code, msg)
	}
}

func TestVersionListsEverySpecVersion(t *testing.T) {
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	out := r.mustExec("VERSION", "", "", []byte(`{"cniVersion":"1.1.0"}`))
	for _, v := range testutils.AllSpecVersions {
		if !strings.Contains(string(out), `"`+v+`"`) {
			t.Errorf("VERSION output %s lacks %s", out, v)
		}
	}
}

// The order users expect from a cluster-wide IPAM (USER-CONFIGS 4): pods
// created one after another get consecutive addresses, and a deleted pod's
// address is not handed straight to the next one.
func TestSequentialAddsGetConsecutiveAddressesAndSkipAJustFreedOne(t *testing.T) {
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	conf := r.conf("0.3.0", map[string]any{"subnet": "192.168.91.0/24", "rangeStart": "192.168.91.100", "rangeEnd": "192.168.91.110", "gateway": "192.168.91.1"})
	add := func(cid string) string {
		got := ips(t, "0.3.0", r.mustExec("ADD", cid, "", conf))
		return strings.TrimSuffix(got[0], "/24")
	}
	var got []string
	for i := 0; i < 8; i++ {
		got = append(got, add(fmt.Sprint("pod", i)))
	}
	want := "192.168.91.100 192.168.91.101 192.168.91.102 192.168.91.103 192.168.91.104 192.168.91.105 192.168.91.106 192.168.91.107"
	if strings.Join(got, " ") != want {
		t.Fatalf("sequential ADDs got %v, want %s", got, want)
	}
	r.mustExec("DEL", "pod2", "", conf)
	if a := add("pod8"); a != "192.168.91.108" {
		t.Fatalf("after freeing .102 the next ADD got %s, want .108", a)
	}
	add("pod9")
	add("pod10")
	if a := add("pod11"); a != "192.168.91.102" {
		t.Fatalf("after wrapping the next ADD got %s, want the freed .102", a)
	}
}

// Each allocation records who holds it: container, interface, pod
// namespace, name and UID from CNI_ARGS, node, network and time.
func TestAllocationRecordsItsHolder(t *testing.T) {
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	conf := r.conf("1.0.0", map[string]any{"subnet": "10.0.0.0/24", "nodeName": "node-7"})
	before := time.Now().Add(-time.Second)
	r.mustExec("ADD", "rec-ctr", "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0;K8S_POD_UID=0b7c-11;K8S_POD_INFRA_CONTAINER_ID=rec-ctr", conf)
	ctx, cancel := ctxTimeout(5 * time.Second)
	defer cancel()
	for _, key := range []string{r.prefix + "/ipv4/010.000.000.002", r.prefix + "/owners/rec-ctr/net1"} {
		resp, err := r.cli.Get(ctx, key)
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("get %s: %v (%d keys)", key, err, len(resp.Kvs))
		}
		var rec struct {
			ipam.Allocation
		}
		if err := json.Unmarshal(resp.Kvs[0].Value, &rec); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		got := rec.Record
		want := ipam.Record{ContainerID: "rec-ctr", IfName: "net1", PodNamespace: "shop", PodName: "web-0", PodUID: "0b7c-11", Node: "node-7", Network: "underlay", Time: got.Time}
		if got != want {
			t.Errorf("%s records %+v, want %+v", key, got, want)
		}
		if got.Time.Before(before) || got.Time.After(time.Now()) {
			t.Errorf("%s records time %s", key, got.Time)
		}
		if strings.HasSuffix(key, "/net1") && (len(rec.Addrs) != 1 || rec.Addrs[0].Addr.String() != "10.0.0.2") {
			t.Errorf("owner record lists %+v", rec.Addrs)
		}
	}
}

package routing

import (
	"strings"
	"testing"
)

func TestHostVethNameIsShortStableAndPerAttachment(t *testing.T) {
	longID := strings.Repeat("f", 64)
	names := map[string]bool{}
	for _, a := range [][2]string{{longID, "eth0"}, {longID, "net1"}, {"other", "eth0"}, {"x", "y"}} {
		name := HostVethName(a[0], a[1])
		if len(name) > 15 || !strings.HasPrefix(name, "hr") || validIfName(name) != nil {
			t.Errorf("HostVethName(%q, %q) = %q, not a valid name of at most 15 characters", a[0], a[1], name)
		}
		if name != HostVethName(a[0], a[1]) {
			t.Errorf("HostVethName(%q, %q) is not stable", a[0], a[1])
		}
		if names[name] {
			t.Errorf("HostVethName(%q, %q) = %q collides", a[0], a[1], name)
		}
		names[name] = true
		if tbl := TableName(a[0], a[1]); !strings.HasPrefix(tbl, "meta_cni_hr_") || strings.ContainsAny(tbl, "-.") {
			t.Errorf("TableName = %q", tbl)
		}
	}
}

func TestDerivedMACsAreLocalUnicastAndDistinct(t *testing.T) {
	host, pod := vethMACs("c1", "eth0")
	bridge := bridgeMAC(host, "eth0.host")
	for _, mac := range [][]byte{host, pod, bridge} {
		if mac[0]&0x01 != 0 || mac[0]&0x02 == 0 {
			t.Errorf("MAC %x is not locally administered unicast", mac)
		}
	}
	if host.String() == pod.String() {
		t.Errorf("veth ends share MAC %s", host)
	}
}

func TestDefaultBridgeName(t *testing.T) {
	for master, want := range map[string]string{"eno1": "eno1.host", "enp5s0f0": "enp5s0f0.host", "enp5s0f0np0": ""} {
		got := DefaultBridgeName(master)
		if len(got) > 15 || validIfName(got) != nil {
			t.Errorf("DefaultBridgeName(%q) = %q, not a valid name", master, got)
		}
		if want != "" && got != want {
			t.Errorf("DefaultBridgeName(%q) = %q, want %q", master, got, want)
		}
	}
}

func TestAttachmentMetricIsPositiveAndPerAttachment(t *testing.T) {
	a, b := attachmentMetric("c1", "eth0"), attachmentMetric("c1", "net1")
	if a <= 0 || b <= 0 || a == b {
		t.Errorf("metrics %d and %d: want distinct and positive", a, b)
	}
}

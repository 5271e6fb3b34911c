package annotations

import (
	"strings"
	"testing"
)

func TestValidateInterfaceNameAcceptsKernelValidNames(t *testing.T) {
	for _, name := range []string{
		"eth0", "net1", "a", "veth0", "averyverylongnm", // 15 bytes
		"eth0.100", "br-ex", "ens1f0np0", "enp0s3_1", "...", "a.b", "ä",
	} {
		if err := ValidateInterfaceName(name); err != nil {
			t.Errorf("ValidateInterfaceName(%q) = %v, want nil", name, err)
		}
	}
}

func TestValidateInterfaceNameRejectsWhatTheKernelRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, want string
	}{
		{"", "is empty"},
		{"averyveryverylongname", "is longer than 15 characters"},
		{"sixteen-bytes-xx", "is longer than 15 characters"},
		{"ääääääää", "is longer than 15 characters"}, // 8 runes, 16 bytes
		{".", "is not a valid interface name"},
		{"..", "is not a valid interface name"},
		{"a/b", `contains '/'`},
		{"eth0:1", `contains ':'`},
		{"eth 0", "contains whitespace"},
		{"eth0\t", "contains whitespace"},
		{"eth0\n", "contains whitespace"},
		{"eth\u00a00", "contains whitespace"},
		{"eth\u20280", "contains whitespace"},
		{"à", "contains whitespace"}, // utf-8 c3 a0: the kernel sees byte 0xa0 as a space
		{"eth\x000", "contains a control character"},
		{"eth\x7f", "contains a control character"},
		{"eth\xff", "is not valid utf-8"},
	} {
		err := ValidateInterfaceName(tc.name)
		if err == nil {
			t.Errorf("ValidateInterfaceName(%q) = nil, want error %q", tc.name, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "interface name ") {
			t.Errorf("ValidateInterfaceName(%q) = %q, want it to contain %q", tc.name, err, tc.want)
		}
	}
}

func TestIPProblemAcceptsAddressesAndPrefixesOfBothFamilies(t *testing.T) {
	for _, s := range []string{"10.0.0.1", "192.168.1.205/24", "10.0.0.0/8", "fd00::1", "fd00::1/64", "::ffff:10.0.0.1", "0.0.0.0/0"} {
		if reason := ipProblem(s); reason != "" {
			t.Errorf("ipProblem(%q) = %q, want accepted", s, reason)
		}
	}
}

func TestIPProblemRejectsMalformedAddresses(t *testing.T) {
	for _, s := range []string{"", "10.0.0", "10.0.0.256", "10.0.0.1/33", "fd00::1/129", "10.0.0.1/", "/24", "fe80::1%eth0", " 10.0.0.1", "10.0.0.1/24/1", "host"} {
		if reason := ipProblem(s); reason == "" {
			t.Errorf("ipProblem(%q) accepted, want rejected", s)
		}
	}
}

func TestNetworkNameProblemFollowsDNS1123Subdomain(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"macvlan-conf", true},
		{"a.b-c.d", true},
		{"0net", true},
		{strings.Repeat("a", 253), true},
		{strings.Repeat("a", 254), false},
		{"", false},
		{"Macvlan", false},
		{"net_a", false},
		{"-net", false},
		{"net-", false},
		{"net a", false},
	} {
		if got := networkNameProblem(tc.name) == ""; got != tc.ok {
			t.Errorf("networkNameProblem(%q) ok = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

func TestNamespaceProblemFollowsDNS1123Label(t *testing.T) {
	for _, tc := range []struct {
		ns string
		ok bool
	}{
		{"kube-system", true},
		{"ns1", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"", false},
		{"a.b", false},
		{"NS1", false},
		{"ns_1", false},
	} {
		if got := namespaceProblem(tc.ns) == ""; got != tc.ok {
			t.Errorf("namespaceProblem(%q) ok = %v, want %v", tc.ns, got, tc.ok)
		}
	}
}

func TestErrorMessageNamesAnnotationEntryAndField(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  Error
		want string
	}{
		{"value, entry and field", Error{NetworksKey, 1, "", "interface", "averyveryverylongname", "is longer than 15 characters"},
			`annotation k8s.v1.cni.cncf.io/networks entry 1 field "interface": "averyveryverylongname" is longer than 15 characters`},
		{"whole value", Error{NetworksKey, -1, "", "", "", "is not a valid json list: unexpected end of JSON input"},
			`annotation k8s.v1.cni.cncf.io/networks is not a valid json list: unexpected end of JSON input`},
		{"field without value", Error{DefaultNetworkKey, -1, "", "name", "", "is required"},
			`annotation v1.multus-cni.io/default-network field "name" is required`},
		{"entry without field", Error{NetworksKey, 2, "", "", "", "is empty"},
			`annotation k8s.v1.cni.cncf.io/networks entry 2 is empty`},
		{"network of the entry", Error{NetworksKey, 0, "macvlan", "interface", "", "is empty"},
			`annotation k8s.v1.cni.cncf.io/networks entry 0 (network macvlan) field "interface" is empty`},
		{"long value is clipped", Error{NetworksKey, 0, "", "name", strings.Repeat("x", 100), "is bad"},
			`annotation k8s.v1.cni.cncf.io/networks entry 0 field "name": "` + strings.Repeat("x", maxShownValue) + `..." is bad`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q\nwant      %q", got, tc.want)
			}
		})
	}
}

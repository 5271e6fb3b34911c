package routing

import (
	"errors"
	"net"
	"strings"
	"testing"
)

func TestParseConfigAcceptsWhatUsersWrite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input string
		check func(t *testing.T, c *Config)
	}{
		{"defaults", `{"cniVersion":"1.1.0","name":"n","type":"host-route"}`, func(t *testing.T, c *Config) {
			if c.Mode != ModeVeth || c.ContainerInterface != "veth0" || c.IPMasq || c.MTU != 0 {
				t.Errorf("defaults = %+v", c)
			}
		}},
		// USER-CONFIGS.md section 1, the veth-to-host entry, field names as written.
		{"veth-to-host names", `{"cniVersion":"0.3.1","name":"ptp","type":"host-route","hostInterface":"enp5s0f0","containerInterface":"veth0","ipMasq":true}`, func(t *testing.T, c *Config) {
			if c.HostInterface != "enp5s0f0" || c.ContainerInterface != "veth0" || !c.IPMasq {
				t.Errorf("veth-to-host fields = %+v", c)
			}
		}},
		// USER-CONFIGS.md section 3, the "route" plugin's fields.
		{"route plugin names", `{"cniVersion":"0.3.1","name":"r","type":"host-route","mode":"macvlan-bridge","master":"eno1","bridge":"eno1.host"}`, func(t *testing.T, c *Config) {
			if c.Mode != ModeMacvlanBridge || c.Master != "eno1" || c.Bridge != "eno1.host" {
				t.Errorf("route plugin fields = %+v", c)
			}
		}},
		{"issue example", `{"cniVersion":"1.0.0","name":"n","type":"host-route","mode":"veth","hostInterface":"enp5s0f0","containerInterface":"veth0","serviceCIDRs":["10.96.0.0/12"],"extraCIDRs":[],"hostIPs":[],"ipMasq":false,"mtu":0}`, func(t *testing.T, c *Config) {
			if len(c.ServiceCIDRs) != 1 || c.ServiceCIDRs[0].String() != "10.96.0.0/12" || len(c.ServiceCIDRs[0].IP) != 4 {
				t.Errorf("serviceCIDRs = %v", c.ServiceCIDRs)
			}
		}},
		{"dual stack", `{"cniVersion":"1.0.0","name":"n","type":"host-route","serviceCIDRs":["10.96.0.0/12","fd96::/108"],"hostIPs":["10.0.0.1","fd00::1"],"mtu":9000}`, func(t *testing.T, c *Config) {
			if len(c.HostIPs) != 2 || len(c.HostIPs[0]) != 4 || c.HostIPs[1].String() != "fd00::1" || c.MTU != 9000 {
				t.Errorf("hostIPs = %v, mtu %d", c.HostIPs, c.MTU)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.input))
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			tc.check(t, c)
		})
	}
}

func TestParseConfigNamesTheBadField(t *testing.T) {
	for _, tc := range []struct{ input, field string }{
		{`{"mode":"ipvlan"}`, "mode"},
		{`{"serviceCIDRs":["10.96.0.0/33"]}`, "serviceCIDRs[0]"},
		{`{"serviceCIDRs":["10.96.0.1/12"]}`, "serviceCIDRs[0]"},
		{`{"extraCIDRs":["10.0.0.0/8","::/0"]}`, "extraCIDRs[1]"},
		{`{"hostIPs":["fe80::1"]}`, "hostIPs[0]"},
		{`{"hostIPs":["224.0.0.1"]}`, "hostIPs[0]"},
		{`{"hostInterface":"has/slash"}`, "hostInterface"},
		{`{"containerInterface":"sixteen-chars-xx"}`, "containerInterface"},
		{`{"bridge":".."}`, "bridge"},
		{`{"master":"a b"}`, "master"},
		{`{"mtu":67}`, "mtu"},
		{`{"mtu":65536}`, "mtu"},
		{`{"ipMasq":"yes"}`, "ipMasq"},
		{`{"cniVersion":1}`, "cniVersion"},
		{`{"logLevel":"trace"}`, "logLevel"},
		{`{"logToStderr":"no"}`, "logToStderr"},
		{`{"logOptions":{"maxSize":-1}}`, "logOptions.maxSize"},
		{`{"logOptions":{"maxBackups":-1}}`, "logOptions.maxBackups"},
		{`{"logOptions":{"maxAge":"7d"}}`, "logOptions.maxAge"},
		{`not json`, "config"},
	} {
		t.Run(tc.input, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.input))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("ParseConfig = %v, want a *ConfigError", err)
			}
			if ce.Field != tc.field || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q names field %q, want %q", err, ce.Field, tc.field)
			}
			if CNIError(err).Code != 7 {
				t.Errorf("CNI code %d, want 7", CNIError(err).Code)
			}
		})
	}
}

// FuzzHostRouteNetConf feeds the parser arbitrary stdin: it must never panic,
// and what it accepts must satisfy what the rest of the package assumes.
func FuzzHostRouteNetConf(f *testing.F) {
	for _, seed := range []string{
		`{"cniVersion":"1.1.0","name":"n","type":"host-route","mode":"veth","hostInterface":"enp5s0f0","containerInterface":"veth0","serviceCIDRs":["10.96.0.0/12"],"extraCIDRs":[],"hostIPs":[],"ipMasq":false,"mtu":0}`,
		`{"mode":"macvlan-bridge","master":"eno1","bridge":"eno1.host","hostIPs":["fd00::1"],"serviceCIDRs":["fd96::/108"]}`,
		`{"cniVersion":"1.1.0","prevResult":{"cniVersion":"1.1.0","interfaces":[{"name":"eth0"}],"ips":[{"address":"10.0.0.2/24","interface":0},{"address":"fd00::2/64","interface":5}]}}`,
		`{"cniVersion":"0.3.1","prevResult":{"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.0.0.2/24"}]}}`,
		`{"mtu":1500,"ipMasq":true}`,
		`{}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field == "" {
				t.Fatalf("error %v is not a ConfigError naming a field", err)
			}
			return
		}
		if c.Mode != ModeVeth && c.Mode != ModeMacvlanBridge {
			t.Fatalf("accepted mode %q", c.Mode)
		}
		if c.ContainerInterface == "" || len(c.ContainerInterface) > 15 || len(c.Bridge) > 15 {
			t.Fatalf("accepted interface names %q/%q", c.ContainerInterface, c.Bridge)
		}
		for _, n := range append(append([]*net.IPNet{}, c.ServiceCIDRs...), c.ExtraCIDRs...) {
			if ones, _ := n.Mask.Size(); ones == 0 {
				t.Fatalf("accepted a default route %s", n)
			}
		}
		if c.MTU != 0 && (c.MTU < 68 || c.MTU > 65535) {
			t.Fatalf("accepted mtu %d", c.MTU)
		}
		// The prevResult is parsed when a command needs it; it must fail
		// as a config error, never panic.
		if _, _, err := prevResult(c, "eth0"); err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != "prevResult" {
				t.Fatalf("prevResult error %v is not a prevResult ConfigError", err)
			}
		}
	})
}

// JSON nulls in a prevResult's lists decode as nil pointers, which
// host-route dereferenced (a panic found by FuzzPrevResult); they are a
// config error naming prevResult.
func TestPrevResultWithNullEntriesIsAConfigError(t *testing.T) {
	for _, prev := range []string{
		`{"cniVersion":"1.0.0","ips":[null]}`,
		`{"cniVersion":"1.0.0","interfaces":[null],"ips":[{"address":"10.0.0.2/24","interface":0}]}`,
	} {
		c, err := ParseConfig([]byte(`{"cniVersion":"1.0.0","name":"n","type":"host-route","prevResult":` + prev + `}`))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = prevResult(c, "net1")
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != "prevResult" || !strings.Contains(err.Error(), "is null") {
			t.Errorf("%s: %v, want a prevResult ConfigError", prev, err)
		}
	}
}

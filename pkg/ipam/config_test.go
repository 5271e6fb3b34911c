package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

const etcdBlock = `"etcd": {"endpoints": ["http://127.0.0.1:2379"]}`

func TestParseConfigAcceptsHostLocalForms(t *testing.T) {
	for _, tc := range []struct {
		name     string
		conf     string
		args     string
		wantSets []string
		check    func(t *testing.T, c *Config)
	}{
		{
			name:     "single subnet, the host-local way",
			conf:     `{"cniVersion":"0.3.1","name":"n","ipam":{"type":"etcd-ipam","subnet":"10.10.20.0/24","rangeStart":"10.10.20.50","rangeEnd":"10.10.20.70","gateway":"10.10.20.254","routes":[{"dst":"0.0.0.0/0"}],` + etcdBlock + `}}`,
			wantSets: []string{"10.10.20.50-10.10.20.70 in 10.10.20.0/24"},
			check: func(t *testing.T, c *Config) {
				if len(c.Routes) != 1 || c.Routes[0].Dst.String() != "0.0.0.0/0" {
					t.Errorf("routes = %v", c.Routes)
				}
				if c.Etcd.Prefix != DefaultPrefix || c.Etcd.DialTimeout != DefaultDialTimeout || c.Etcd.RequestTimeout != DefaultRequestTimeout {
					t.Errorf("etcd defaults = %+v", c.Etcd)
				}
			},
		},
		{
			name: "dual-stack ranges with dns, exclude and a network scope",
			conf: `{"cniVersion":"1.0.0","name":"n","ipam":{"type":"etcd-ipam","network":"rack-a",
				"ranges":[[{"subnet":"10.0.0.0/24"}],[{"subnet":"fd00::/120","gateway":"fd00::fe"}]],
				"exclude":["10.0.0.2","10.0.0.8/29","fd00::10"],"dns":{"nameservers":["10.0.0.53"]},
				"etcd":{"endpoints":["https://10.0.0.5:2379","10.0.0.6:2379"],"dialTimeout":"1s","requestTimeout":3,"prefix":"/custom/"}}}`,
			wantSets: []string{"10.0.0.1-10.0.0.254 in 10.0.0.0/24", "fd00::1-fd00::ff in fd00::/120"},
			check: func(t *testing.T, c *Config) {
				if c.Network != "rack-a" || len(c.Exclude) != 3 || c.DNS.Nameservers[0] != "10.0.0.53" {
					t.Errorf("config = %+v", c)
				}
				if c.Etcd.DialTimeout != time.Second || c.Etcd.RequestTimeout != 3*time.Second || c.Etcd.Prefix != "/custom" {
					t.Errorf("etcd = %+v", c.Etcd)
				}
				if c.RangeSets[0].Size() != 253-1-8 {
					t.Errorf("v4 size = %d, want %d", c.RangeSets[0].Size(), 253-1-8)
				}
			},
		},
		{
			name: "the older etcdConfig block, spelled as users have it",
			conf: `{"cniVersion":"0.3.1","name":"cni0","ipam":{"name":"myetcd-ipam","type":"etcd","subnet":"10.10.20.0/24",
				"etcdConfig":{"etcdURL":"https://10.10.20.152:2379,https://10.10.20.153:2379","etcdCertFile":"/etc/etcd/ssl/etcd.pem",
				"etcdKeyFile":"/etc/etcd/ssl/etcd-key.pem","etcdTrustedCAFileFile":"/etc/kubernetes/ssl/ca.pem"}}}`,
			wantSets: []string{"10.10.20.1-10.10.20.254 in 10.10.20.0/24"},
			check: func(t *testing.T, c *Config) {
				e := c.Etcd
				if len(e.Endpoints) != 2 || e.CertFile != "/etc/etcd/ssl/etcd.pem" || e.KeyFile != "/etc/etcd/ssl/etcd-key.pem" || e.TrustedCAFile != "/etc/kubernetes/ssl/ca.pem" {
					t.Errorf("etcd = %+v", e)
				}
				if e.CAField != "ipam.etcdConfig.etcdTrustedCAFileFile" {
					t.Errorf("CA field = %q", e.CAField)
				}
			},
		},
		{
			name:     "static addresses from CNI_ARGS, args and runtimeConfig, pod fields from CNI_ARGS",
			conf:     `{"cniVersion":"1.0.0","name":"n","args":{"cni":{"ips":["fd00::9"]}},"runtimeConfig":{"ips":["10.0.1.7/24"]},"ipam":{"ranges":[[{"subnet":"10.0.0.0/24"},{"subnet":"10.0.1.0/24"}],[{"subnet":"fd00::/64"}]],` + etcdBlock + `}}`,
			args:     "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web-0;K8S_POD_UID=u-1;IP=10.0.1.7",
			wantSets: []string{"10.0.0.1-10.0.0.254 in 10.0.0.0/24, 10.0.1.1-10.0.1.254 in 10.0.1.0/24", "fd00::1-fd00::ffff:ffff:ffff:ffff in fd00::/64"},
			check: func(t *testing.T, c *Config) {
				if c.Static[0] != netip.MustParseAddr("10.0.1.7") || c.Static[1] != netip.MustParseAddr("fd00::9") {
					t.Errorf("static = %v", c.Static)
				}
				if c.Pod != (PodArgs{"ns", "web-0", "u-1"}) {
					t.Errorf("pod = %+v", c.Pod)
				}
			},
		},
		{
			name:     "runtime ipRanges come first",
			conf:     `{"cniVersion":"1.0.0","name":"n","runtimeConfig":{"ipRanges":[[{"subnet":"10.9.0.0/24"}]]},"ipam":{"subnet":"10.0.0.0/24",` + etcdBlock + `}}`,
			wantSets: []string{"10.9.0.1-10.9.0.254 in 10.9.0.0/24", "10.0.0.1-10.0.0.254 in 10.0.0.0/24"},
		},
		{
			name:     "endpoints only from a file",
			conf:     `{"cniVersion":"1.0.0","name":"n","ipam":{"subnet":"10.0.0.0/24","etcd":{"endpointsFile":"/run/secrets/etcd/endpoints"}}}`,
			wantSets: []string{"10.0.0.1-10.0.0.254 in 10.0.0.0/24"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.conf), tc.args)
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			var got []string
			for _, s := range c.RangeSets {
				got = append(got, s.String())
			}
			if strings.Join(got, "|") != strings.Join(tc.wantSets, "|") {
				t.Fatalf("range sets = %q, want %q", got, tc.wantSets)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestParseConfigNamesTheBadField(t *testing.T) {
	ipam := func(body string) string { return `{"cniVersion":"1.0.0","name":"n","ipam":{` + body + `}}` }
	for _, tc := range []struct {
		conf, args, field string
	}{
		{`{"cniVersion":"1.0.0"}`, "", "ipam"},
		{`{"ipam":`, "", "config"},
		{ipam(etcdBlock), "", "ipam.ranges"},
		{ipam(`"subnet":"10.0.0.1/24",` + etcdBlock), "", "ipam.subnet"},
		{ipam(`"subnet":42,` + etcdBlock), "", "ipam.subnet"},
		{ipam(`"rangeStart":"10.0.0.5",` + etcdBlock), "", "ipam.subnet"},
		{ipam(`"ranges":[[{"subnet":"10.0.0.0/24"},{"subnet":"10.0.1.0/24","rangeEnd":"10.0.2.1"}]],` + etcdBlock), "", "ipam.ranges[0][1].rangeEnd"},
		{ipam(`"ranges":[[{"subnet":"10.0.0.0/24"}],[{"subnet":"10.0.0.0/25"}]],` + etcdBlock), "", "ipam.ranges[1]"},
		{ipam(`"ranges":[[{"subnet":"10.0.0.0/24"},{"subnet":"fd00::/64"}]],` + etcdBlock), "", "ipam.ranges[0][1].subnet"},
		{ipam(`"subnet":"10.0.0.0/24","exclude":["10.0.0.300"],` + etcdBlock), "", "ipam.exclude[0]"},
		{ipam(`"subnet":"10.0.0.0/24","exclude":["10.0.0.3","192.168.0.0/24"],` + etcdBlock), "", "ipam.exclude[1]"},
		{ipam(`"subnet":"10.0.0.0/24","routes":[{"gw":"10.0.0.1"}],` + etcdBlock), "", "ipam.routes[0].dst"},
		{ipam(`"subnet":"10.0.0.0/24","network":"a/b",` + etcdBlock), "", "ipam.network"},
		{ipam(`"subnet":"10.0.0.0/24"`), "", "ipam.etcd"},
		{ipam(`"subnet":"10.0.0.0/24","etcd":{}`), "", "ipam.etcd.endpoints"},
		{ipam(`"subnet":"10.0.0.0/24","etcd":{"endpoints":["ftp://x:1"]}`), "", "ipam.etcd.endpoints[0]"},
		{ipam(`"subnet":"10.0.0.0/24","etcd":{"endpoints":["http://x:1"],"certFile":"/c"}`), "", "ipam.etcd.keyFile"},
		{ipam(`"subnet":"10.0.0.0/24","etcd":{"endpoints":["http://x:1"],"keyFile":"/k"}`), "", "ipam.etcd.certFile"},
		{ipam(`"subnet":"10.0.0.0/24","etcd":{"endpoints":["http://x:1"],"dialTimeout":"soon"}`), "", "ipam.etcd.dialTimeout"},
		{ipam(`"subnet":"10.0.0.0/24","etcd":{"endpoints":["http://x:1"],"requestTimeout":"-1s"}`), "", "ipam.etcd.requestTimeout"},
		{ipam(`"subnet":"10.0.0.0/24","etcdConfig":{"etcdURL":"https://x:1","etcdCertFile":"/c"}`), "", "ipam.etcdConfig.etcdKeyFile"},
		{ipam(`"subnet":"10.0.0.0/24","etcdConfig":{"etcdURL":""}`), "", "ipam.etcdConfig.etcdURL"},
		{ipam(`"subnet":"10.0.0.0/24","etcdConfig":{"etcdURL":"http://x:1"},` + etcdBlock), "", "ipam.etcdConfig"},
		{ipam(`"subnet":"10.0.0.0/24",` + etcdBlock), "IP=10.0.1.5", "CNI_ARGS IP"},
		{ipam(`"subnet":"10.0.0.0/24",` + etcdBlock), "IP=10.0.0.1", "CNI_ARGS IP"},
		{ipam(`"subnet":"10.0.0.0/24",` + etcdBlock), "K8S_POD_NAME", "CNI_ARGS"},
		{`{"cniVersion":"1.0.0","runtimeConfig":{"ips":["nope"]},"ipam":{"subnet":"10.0.0.0/24",` + etcdBlock + `}}`, "", "runtimeConfig.ips[0]"},
		{`{"cniVersion":"1.0.0","args":{"cni":{"ips":["10.0.0.5","10.0.0.6"]}},"ipam":{"subnet":"10.0.0.0/24",` + etcdBlock + `}}`, "", "args.cni.ips[1]"},
		{ipam(`"subnet":"10.0.0.0/24","logLevel":"trace",` + etcdBlock), "", "ipam.logLevel"},
		{ipam(`"subnet":"10.0.0.0/24","logToStderr":1,` + etcdBlock), "", "ipam.logToStderr"},
		{ipam(`"subnet":"10.0.0.0/24","logOptions":{"maxSize":-1},` + etcdBlock), "", "ipam.logOptions.maxSize"},
		{ipam(`"subnet":"10.0.0.0/24","logOptions":{"maxBackups":-1},` + etcdBlock), "", "ipam.logOptions.maxBackups"},
		{ipam(`"subnet":"10.0.0.0/24","logOptions":{"maxAge":-1},` + etcdBlock), "", "ipam.logOptions.maxAge"},
		{ipam(`"subnet":"10.0.0.0/24","logOptions":{"compress":"yes"},` + etcdBlock), "", "ipam.logOptions.compress"},
		{`{"cniVersion":"0.2.0","ipam":{"ranges":[[{"subnet":"10.0.0.0/24"}],[{"subnet":"10.1.0.0/24"}]],` + etcdBlock + `}}`, "", "cniVersion"},
	} {
		_, err := ParseConfig([]byte(tc.conf), tc.args)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("ParseConfig(%s, %q) = %v, want a ConfigError", tc.conf, tc.args, err)
			continue
		}
		if ce.Field != tc.field {
			t.Errorf("ParseConfig(%s, %q): field %q (%v), want %q", tc.conf, tc.args, ce.Field, err, tc.field)
		}
		if code := cniError(err).Code; code != 7 {
			t.Errorf("CNI code %d, want 7", code)
		}
	}
}

// One ADD writes every range set in one etcd transaction, which etcd caps
// at --max-txn-ops (128 by default): a config that needs more is a config
// error, said at parse time, not an etcd refusal at ADD.
func TestParseConfigRefusesMoreRangeSetsThanOneTransactionHolds(t *testing.T) {
	conf := func(n int) []byte {
		var sets []string
		for i := 0; i < n; i++ {
			sets = append(sets, fmt.Sprintf(`[{"subnet":"10.%d.0.0/24"}]`, i))
		}
		return []byte(`{"cniVersion":"1.0.0","name":"n","ipam":{"ranges":[` + strings.Join(sets, ",") + `],` + etcdBlock + `}}`)
	}
	if _, err := ParseConfig(conf(MaxRangeSets), ""); err != nil {
		t.Fatalf("%d range sets: %v", MaxRangeSets, err)
	}
	_, err := ParseConfig(conf(64), "")
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "ipam.ranges" || cniError(err).Code != 7 {
		t.Fatalf("64 range sets: %v, want code 7 naming ipam.ranges", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"cniVersion":"1.0.0","name":"n","ipam":{"subnet":"10.0.0.0/24","exclude":["10.0.0.5"],`+etcdBlock+`}}`), "IP=10.0.0.7")
	f.Add([]byte(`{"cniVersion":"1.0.0","ipam":{"ranges":[[{"subnet":"fd00::/120","rangeStart":"fd00::10"}]],"etcdConfig":{"etcdURL":"http://a:1"}}}`), "")
	f.Add([]byte(`{"cniVersion":"0.3.1","ipam":{"subnet":"10.0.0.0/30","etcd":{"endpoints":["a:1"],"dialTimeout":1.5}}}`), "K8S_POD_NAME=x")
	f.Fuzz(func(t *testing.T, conf []byte, args string) {
		c, err := ParseConfig(conf, args)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field == "" {
				t.Fatalf("error %v is not a ConfigError naming a field", err)
			}
			return
		}
		// An accepted config must be safe to allocate from.
		for i, s := range c.RangeSets {
			n := 0
			for w := range s.Windows(netip.Addr{}, DefaultWindow) {
				if !s.Allocatable(w.First) || !s.Allocatable(w.Last) {
					t.Fatalf("set %d yields unallocatable window %s-%s", i, w.First, w.Last)
				}
				if n++; n > 4 {
					break
				}
			}
			if a, ok := c.Static[i]; ok {
				if idx, ok := s.RangeFor(a); idx < 0 || !ok {
					t.Fatalf("static %s accepted outside set %d", a, i)
				}
				if !c.StaticAnywhereInSubnet && !s.Allocatable(a) {
					t.Fatalf("static %s accepted outside the ranges or in an exclusion of set %d", a, i)
				}
			}
		}
	})
}

func TestParseConfigReadsMultusLogSettingsFromTheIPAMBlock(t *testing.T) {
	c, err := ParseConfig([]byte(`{"cniVersion":"1.0.0","name":"n","ipam":{"subnet":"10.0.0.0/24",`+etcdBlock+`,
		"logFile":"/var/log/etcd-ipam.log","logLevel":"verbose","logToStderr":true,
		"logOptions":{"maxAge":7,"maxSize":50,"maxBackups":3,"compress":false}}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	l := c.Log
	if l.File != "/var/log/etcd-ipam.log" || l.Level != "verbose" || l.ToStderr == nil || !*l.ToStderr || l.Options == nil ||
		*l.Options.MaxAge != 7 || *l.Options.MaxSize != 50 || *l.Options.MaxBackups != 3 || *l.Options.Compress {
		t.Fatalf("log settings = %+v, options %+v", l, l.Options)
	}
}

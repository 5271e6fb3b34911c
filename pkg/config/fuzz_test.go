package config_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/meta-cni/meta-cni/pkg/config"
)

// validSeeds reach every accepting branch of Parse.
var validSeeds = []string{
	"{" + minimal + "}",
	"{" + minimal + `,"apiTimeout":"3s","readinessTimeout":45}`,
	"{" + minimal + `,"apiTimeout":2.5,"readinessTimeout":"7"}`,
	"{" + minimal + `,"globalNamespaces":"default, shared,"}`,
	"{" + minimal + `,"globalNamespaces":["default"],"systemNamespaces":[],"namespaceIsolation":true}`,
	"{" + minimal + `,"defaultNetworks":["a","ns/b"],"multusNamespace":"nets","logLevel":"debug"}`,
	"{" + minimal + `,"logFile":"/var/log/m.log","logToStderr":false,"logOptions":{"maxAge":0,"maxSize":50,"maxBackups":5,"compress":true}}`,
	`{"cniVersion":"0.3.1","delegates":[{"type":"bridge"}]}`,
	`{"cniVersion":"1.1.0","clusterNetwork":"/etc/cni/net.d/10-cluster.conflist","ipam":{"type":"host-local"},"dns":{"nameservers":["10.0.0.10"]}}`,
}

func FuzzParse(f *testing.F) {
	for _, s := range validSeeds {
		f.Add([]byte(s))
	}
	for _, tc := range invalidCases {
		f.Add([]byte(tc.data))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse(data)
		if err != nil {
			var ferr *config.FieldError
			if !errors.As(err, &ferr) || ferr.Reason == "" {
				t.Fatalf("Parse(%q) error %v (%T) is not a well-formed *config.FieldError", data, err, err)
			}
			return
		}
		if !slices.Contains(config.SupportedVersions, c.CNIVersion) {
			t.Fatalf("Parse(%q) accepted cniVersion %q", data, c.CNIVersion)
		}
		if c.APITimeout <= 0 || c.ReadinessTimeout <= 0 {
			t.Fatalf("Parse(%q) accepted timeouts %v, %v", data, c.APITimeout, c.ReadinessTimeout)
		}
		if c.CacheDir == "" || c.ConfDir == "" || c.NetworkNamespace == "" {
			t.Fatalf("Parse(%q) left a default empty: %+v", data, c)
		}
		if err := c.Log().Validate(); err != nil {
			t.Fatalf("Parse(%q) accepted log settings pluginlog refuses: %v", data, err)
		}
		if c.ClusterNetwork == "" && len(c.Delegates) == 0 {
			t.Fatalf("Parse(%q) accepted a NetConf without a cluster network", data)
		}
	})
}

package config_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/pkg/config"
	"github.com/meta-cni/meta-cni/pkg/pluginlog"
)

// minimal is the smallest NetConf Parse accepts; cases add fields to it.
const minimal = `"cniVersion":"1.0.0","type":"meta-cni","name":"meta","clusterNetwork":"cluster"`

func conf(fields string) []byte {
	if fields == "" {
		return []byte("{" + minimal + "}")
	}
	return []byte("{" + minimal + "," + fields + "}")
}

func mustParse(t *testing.T, data []byte) *config.NetConf {
	t.Helper()
	c, err := config.Parse(data)
	if err != nil {
		t.Fatalf("Parse(%s) = %v, want success", data, err)
	}
	return c
}

// checkFieldError fails unless err is a *config.FieldError naming field,
// with a reason containing reason and a lower-case message naming the field.
func checkFieldError(t *testing.T, err error, field, reason string) {
	t.Helper()
	var ferr *config.FieldError
	if !errors.As(err, &ferr) {
		t.Fatalf("error = %v (%T), want *config.FieldError", err, err)
	}
	if ferr.Field != field || !strings.Contains(ferr.Reason, reason) {
		t.Fatalf("error = %#v, want field %q and reason containing %q", ferr, field, reason)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "meta-cni config") {
		t.Fatalf("message %q does not start with \"meta-cni config\"", msg)
	}
	if field != "" && !strings.Contains(msg, `"`+field+`"`) {
		t.Fatalf("message %q does not name field %q", msg, field)
	}
}

func ptr[T any](v T) *T { return &v }

func TestParseFillsDefaultsForOmittedFields(t *testing.T) {
	c := mustParse(t, conf(""))
	for _, tc := range []struct {
		what      string
		got, want any
	}{
		{"cacheDir", c.CacheDir, "/var/lib/meta-cni"},
		{"confDir", c.ConfDir, "/etc/cni/net.d"},
		{"multusNamespace", c.NetworkNamespace, "kube-system"},
		{"systemNamespaces", c.SystemNamespaces, []string{"kube-system"}},
		{"globalNamespaces", c.GlobalNamespaces, []string{"default"}},
		{"logLevel (pluginlog picks info for a file, warn for stderr)", c.LogLevel, ""},
		{"logToStderr", c.LogToStderr, (*bool)(nil)},
		{"logOptions (pluginlog's defaults apply)", c.LogOptions, (*pluginlog.Options)(nil)},
		{"apiTimeout", c.APITimeout, 10 * time.Second},
		{"readinessTimeout", c.ReadinessTimeout, 30 * time.Second},
		{"namespaceIsolation", c.NamespaceIsolation, false},
		{"binDir", c.BinDir, ""},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %#v, want %#v", tc.what, tc.got, tc.want)
		}
	}
}

func TestParseKeepsGivenFields(t *testing.T) {
	c := mustParse(t, []byte(`{
		"cniVersion": "0.3.1", "name": "multus-cni-network", "type": "meta-cni",
		"kubeconfig": "/etc/cni/net.d/meta-cni.d/meta-cni.kubeconfig",
		"daemonSocket": "/run/meta-cni/node-api.sock",
		"nodeName": "worker-1.example.com",
		"clusterNetwork": "kube-system/flannel",
		"defaultNetworks": ["sidecar", "other/net"],
		"multusNamespace": "nets",
		"systemNamespaces": ["kube-system", "infra"],
		"namespaceIsolation": true,
		"confDir": "/etc/cni/custom", "binDir": "/opt/cni/custom", "cacheDir": "/run/meta-cni",
		"logLevel": "debug", "logFile": "/var/log/meta-cni.log", "logToStderr": true,
		"logOptions": {"maxAge": 7, "maxSize": 50, "maxBackups": 5, "compress": true},
		"readinessIndicatorFile": "/run/flannel/subnet.env"
	}`))
	want := &config.NetConf{
		Kubeconfig:             "/etc/cni/net.d/meta-cni.d/meta-cni.kubeconfig",
		DaemonSocket:           "/run/meta-cni/node-api.sock",
		NodeName:               "worker-1.example.com",
		ClusterNetwork:         "kube-system/flannel",
		DefaultNetworks:        []string{"sidecar", "other/net"},
		NetworkNamespace:       "nets",
		SystemNamespaces:       []string{"kube-system", "infra"},
		NamespaceIsolation:     true,
		GlobalNamespaces:       []string{"default"},
		ConfDir:                "/etc/cni/custom",
		BinDir:                 "/opt/cni/custom",
		CacheDir:               "/run/meta-cni",
		LogLevel:               "debug",
		LogFile:                "/var/log/meta-cni.log",
		LogToStderr:            ptr(true),
		LogOptions:             &pluginlog.Options{MaxAge: ptr(7), MaxSize: ptr(50), MaxBackups: ptr(5), Compress: ptr(true)},
		ReadinessIndicatorFile: "/run/flannel/subnet.env",
		ReadinessTimeout:       config.DefaultReadinessTimeout,
		APITimeout:             config.DefaultAPITimeout,
	}
	want.CNIVersion, want.Name, want.Type = "0.3.1", "multus-cni-network", "meta-cni"
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Parse =\n%#v\nwant\n%#v", c, want)
	}
}

func TestParseAcceptsEverySupportedCNIVersion(t *testing.T) {
	for _, v := range []string{"0.3.1", "0.4.0", "1.0.0", "1.1.0"} {
		t.Run(v, func(t *testing.T) {
			c := mustParse(t, []byte(`{"cniVersion":"`+v+`","clusterNetwork":"cluster"}`))
			if c.CNIVersion != v {
				t.Fatalf("cniVersion = %q, want %q", c.CNIVersion, v)
			}
		})
	}
}

func TestParseTimeoutsAcceptDurationStringsAndSeconds(t *testing.T) {
	for _, tc := range []struct {
		name, fields           string
		wantAPI, wantReadiness time.Duration
	}{
		{"duration string", `"apiTimeout":"3s"`, 3 * time.Second, config.DefaultReadinessTimeout},
		{"compound duration string", `"apiTimeout":"1m30s"`, 90 * time.Second, config.DefaultReadinessTimeout},
		{"fractional number of seconds", `"apiTimeout":2.5`, 2500 * time.Millisecond, config.DefaultReadinessTimeout},
		{"whole number of seconds", `"apiTimeout":4`, 4 * time.Second, config.DefaultReadinessTimeout},
		{"number of seconds as a string", `"apiTimeout":"7"`, 7 * time.Second, config.DefaultReadinessTimeout},
		{"fractional seconds as a string", `"apiTimeout":"0.25"`, 250 * time.Millisecond, config.DefaultReadinessTimeout},
		{"exactly a day as a number", `"apiTimeout":86400`, 24 * time.Hour, config.DefaultReadinessTimeout},
		{"null means the default", `"apiTimeout":null,"readinessTimeout":null`, config.DefaultAPITimeout, config.DefaultReadinessTimeout},
		{"readiness timeout as a duration", `"readinessTimeout":"2m"`, config.DefaultAPITimeout, 2 * time.Minute},
		{"readiness timeout as seconds", `"readinessTimeout":45`, config.DefaultAPITimeout, 45 * time.Second},
		{"both given", `"apiTimeout":"500ms","readinessTimeout":"1"`, 500 * time.Millisecond, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, conf(tc.fields))
			if c.APITimeout != tc.wantAPI || c.ReadinessTimeout != tc.wantReadiness {
				t.Fatalf("apiTimeout, readinessTimeout = %v, %v; want %v, %v", c.APITimeout, c.ReadinessTimeout, tc.wantAPI, tc.wantReadiness)
			}
		})
	}
}

func TestParseGlobalNamespacesAcceptsListAndMultusCommaString(t *testing.T) {
	for _, tc := range []struct {
		name, fields string
		want         []string
	}{
		{"JSON list", `"globalNamespaces":["default","shared"]`, []string{"default", "shared"}},
		{"comma string", `"globalNamespaces":"default,shared"`, []string{"default", "shared"}},
		{"comma string with spaces and empty entries", `"globalNamespaces":" default , ,shared,"`, []string{"default", "shared"}},
		{"single name string", `"globalNamespaces":"shared"`, []string{"shared"}},
		{"empty list means none, not the defaults", `"globalNamespaces":[]`, []string{}},
		{"empty string means none, not the defaults", `"globalNamespaces":""`, []string{}},
		{"null means the default", `"globalNamespaces":null`, []string{"default"}},
		{"the default is only \"default\" as in Multus, whatever multusNamespace is", `"multusNamespace":"nets"`, []string{"default"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, conf(tc.fields))
			if !reflect.DeepEqual(c.GlobalNamespaces, tc.want) {
				t.Fatalf("globalNamespaces = %#v, want %#v", c.GlobalNamespaces, tc.want)
			}
		})
	}
}

func TestParseEmptySystemNamespacesListMeansNone(t *testing.T) {
	c := mustParse(t, conf(`"systemNamespaces":[]`))
	if len(c.SystemNamespaces) != 0 {
		t.Fatalf("systemNamespaces = %#v, want none", c.SystemNamespaces)
	}
}

func TestParseInlineDelegatesStandInForClusterNetwork(t *testing.T) {
	c := mustParse(t, []byte(`{"cniVersion":"1.0.0","delegates":[{"cniVersion":"1.0.0","name":"cluster","type":"bridge"}]}`))
	if c.ClusterNetwork != "" || len(c.Delegates) != 1 {
		t.Fatalf("clusterNetwork = %q, delegates = %d; want \"\" and 1", c.ClusterNetwork, len(c.Delegates))
	}
}

func TestParseKeepsCapabilitiesAndTheRuntimesRuntimeConfig(t *testing.T) {
	c := mustParse(t, conf(`"capabilities":{"portMappings":true,"bandwidth":true,"mac":false},
		"runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}],"bandwidth":{"ingressRate":1000}}`))
	if want := map[string]bool{"portMappings": true, "bandwidth": true, "mac": false}; !reflect.DeepEqual(c.Capabilities, want) {
		t.Errorf("Capabilities = %v, want %v", c.Capabilities, want)
	}
	want := map[string]any{
		"portMappings": []any{map[string]any{"hostPort": float64(8080), "containerPort": float64(80), "protocol": "tcp"}},
		"bandwidth":    map[string]any{"ingressRate": float64(1000)},
	}
	if !reflect.DeepEqual(c.RuntimeConfig, want) {
		t.Errorf("RuntimeConfig = %#v\nwant %#v", c.RuntimeConfig, want)
	}
}

func TestParseAcceptsEveryLogLevel(t *testing.T) {
	for _, level := range []string{"debug", "verbose", "info", "warn", "warning", "error", "panic", "INFO", "Debug"} {
		t.Run(level, func(t *testing.T) {
			if c := mustParse(t, conf(`"logLevel":"`+level+`"`)); c.LogLevel != level {
				t.Fatalf("logLevel = %q, want %q", c.LogLevel, level)
			}
		})
	}
}

// invalidCases are shared with FuzzParse as seeds.
var invalidCases = []struct {
	name   string
	data   string
	field  string
	reason string
}{
	{"missing cniVersion", `{"clusterNetwork":"cluster"}`, "cniVersion", "is required"},
	{"empty cniVersion", `{"cniVersion":"","clusterNetwork":"cluster"}`, "cniVersion", "is required"},
	{"unsupported cniVersion 0.2.0", `{"cniVersion":"0.2.0","clusterNetwork":"cluster"}`, "cniVersion", `"0.2.0" is not one of 0.3.1, 0.4.0, 1.0.0, 1.1.0`},
	{"unsupported cniVersion 2.0.0", `{"cniVersion":"2.0.0","clusterNetwork":"cluster"}`, "cniVersion", "is not one of"},
	{"neither clusterNetwork nor delegates", `{"cniVersion":"1.0.0"}`, "clusterNetwork", "is required"},
	{"empty delegates list is no cluster network", `{"cniVersion":"1.0.0","delegates":[]}`, "clusterNetwork", "is required"},
	{"empty defaultNetworks entry", "{" + minimal + `,"defaultNetworks":["a",""]}`, "defaultNetworks[1]", "is empty"},
	{"blank defaultNetworks entry", "{" + minimal + `,"defaultNetworks":[" "]}`, "defaultNetworks[0]", "is empty"},
	{"upper-case multusNamespace", "{" + minimal + `,"multusNamespace":"Kube-System"}`, "multusNamespace", "is not a valid namespace"},
	{"slash in systemNamespaces entry", "{" + minimal + `,"systemNamespaces":["kube-system","a/b"]}`, "systemNamespaces[1]", `"a/b" is not a valid namespace`},
	{"empty systemNamespaces entry", "{" + minimal + `,"systemNamespaces":[""]}`, "systemNamespaces[0]", "is not a valid namespace"},
	{"underscore in globalNamespaces list", "{" + minimal + `,"globalNamespaces":["default","bad_ns"]}`, "globalNamespaces[1]", `"bad_ns" is not a valid namespace`},
	{"bad name in globalNamespaces comma string", "{" + minimal + `,"globalNamespaces":"default,Bad"}`, "globalNamespaces[1]", `"Bad" is not a valid namespace`},
	{"too long namespace", "{" + minimal + `,"multusNamespace":"` + strings.Repeat("a", 64) + `"}`, "multusNamespace", "is not a valid namespace"},
	{"unknown logLevel", "{" + minimal + `,"logLevel":"trace"}`, "logLevel", `"trace" is not one of`},
	{"relative daemonSocket", "{" + minimal + `,"daemonSocket":"run/node-api.sock"}`, "daemonSocket", "must be an absolute path"},
	{"daemonSocket number", "{" + minimal + `,"daemonSocket":1}`, "daemonSocket", "must be a JSON string"},
	{"nodeName that is no node name", "{" + minimal + `,"nodeName":"Node_1"}`, "nodeName", `"Node_1" is not a Kubernetes node name`},
	{"negative logOptions.maxSize", "{" + minimal + `,"logOptions":{"maxSize":-1}}`, "logOptions.maxSize", "must not be negative"},
	{"negative logOptions.maxBackups", "{" + minimal + `,"logOptions":{"maxBackups":-2}}`, "logOptions.maxBackups", "must not be negative"},
	{"negative logOptions.maxAge", "{" + minimal + `,"logOptions":{"maxAge":-3}}`, "logOptions.maxAge", "must not be negative"},
	{"logOptions.maxSize past a tebibyte", "{" + minimal + `,"logOptions":{"maxSize":1048577}}`, "logOptions.maxSize", "is more than"},
	{"logOptions.maxSize string", "{" + minimal + `,"logOptions":{"maxSize":"50M"}}`, "logOptions.maxSize", "must be a JSON int"},
	{"logOptions.maxSize fraction", "{" + minimal + `,"logOptions":{"maxSize":1.5}}`, "logOptions.maxSize", "must be a JSON int"},
	{"logOptions.compress string", "{" + minimal + `,"logOptions":{"compress":"yes"}}`, "logOptions.compress", "must be a JSON bool"},
	{"logOptions list", "{" + minimal + `,"logOptions":[]}`, "logOptions", "must be a JSON"},
	{"logToStderr string", "{" + minimal + `,"logToStderr":"true"}`, "logToStderr", "must be a JSON bool"},
	{"negative apiTimeout duration", "{" + minimal + `,"apiTimeout":"-3s"}`, "apiTimeout", "must be positive"},
	{"zero apiTimeout duration", "{" + minimal + `,"apiTimeout":"0s"}`, "apiTimeout", "must be positive"},
	{"zero apiTimeout number", "{" + minimal + `,"apiTimeout":0}`, "apiTimeout", "must be positive"},
	{"negative apiTimeout number", "{" + minimal + `,"apiTimeout":-1}`, "apiTimeout", "must be positive"},
	{"negative apiTimeout seconds string", "{" + minimal + `,"apiTimeout":"-7"}`, "apiTimeout", "must be positive"},
	{"apiTimeout below a nanosecond", "{" + minimal + `,"apiTimeout":1e-12}`, "apiTimeout", "must be positive"},
	{"garbage apiTimeout string", "{" + minimal + `,"apiTimeout":"soon"}`, "apiTimeout", `"soon" is not a duration`},
	{"apiTimeout of the wrong JSON type", "{" + minimal + `,"apiTimeout":true}`, "apiTimeout", "must be a duration string"},
	{"apiTimeout number longer than a day", "{" + minimal + `,"apiTimeout":86401}`, "apiTimeout", "is longer than a day"},
	{"apiTimeout seconds string longer than a day", "{" + minimal + `,"apiTimeout":"1e9"}`, "apiTimeout", "is longer than a day"},
	{"apiTimeout seconds string past int64 nanoseconds", "{" + minimal + `,"apiTimeout":"1e300"}`, "apiTimeout", "is longer than a day"},
	{"apiTimeout infinite seconds string", "{" + minimal + `,"apiTimeout":"Inf"}`, "apiTimeout", "is longer than a day"},
	{"apiTimeout NaN seconds string", "{" + minimal + `,"apiTimeout":"NaN"}`, "apiTimeout", "is not a number of seconds"},
	{"zero readinessTimeout", "{" + minimal + `,"readinessTimeout":"0"}`, "readinessTimeout", "must be positive"},
	{"negative readinessTimeout", "{" + minimal + `,"readinessTimeout":"-1m"}`, "readinessTimeout", "must be positive"},
	{"garbage readinessTimeout", "{" + minimal + `,"readinessTimeout":"30 s"}`, "readinessTimeout", "is not a duration"},
	{"readinessTimeout object", "{" + minimal + `,"readinessTimeout":{}}`, "readinessTimeout", "must be a duration string"},
	{"globalNamespaces number", "{" + minimal + `,"globalNamespaces":5}`, "globalNamespaces", "must be a list of namespaces or a comma-separated string"},
	{"globalNamespaces list of numbers", "{" + minimal + `,"globalNamespaces":[1]}`, "globalNamespaces", "must be a list"},
	{"cniVersion number", `{"cniVersion":1.0,"clusterNetwork":"cluster"}`, "cniVersion", "must be a JSON string"},
	{"ipam type number", "{" + minimal + `,"ipam":{"type":1}}`, "ipam.type", "must be a JSON string"},
	{"clusterNetwork list", `{"cniVersion":"1.0.0","clusterNetwork":["a"]}`, "clusterNetwork", "must be a JSON string"},
	{"defaultNetworks string", "{" + minimal + `,"defaultNetworks":"a,b"}`, "defaultNetworks", "must be a JSON"},
	{"defaultNetworks entry number", "{" + minimal + `,"defaultNetworks":[1]}`, "defaultNetworks", "must be a JSON string"},
	{"systemNamespaces string", "{" + minimal + `,"systemNamespaces":"kube-system"}`, "systemNamespaces", "must be a JSON"},
	{"namespaceIsolation string", "{" + minimal + `,"namespaceIsolation":"yes"}`, "namespaceIsolation", "must be a JSON bool"},
	{"delegates object", `{"cniVersion":"1.0.0","delegates":{}}`, "delegates", "must be a JSON"},
	{"logLevel number", "{" + minimal + `,"logLevel":3}`, "logLevel", "must be a JSON string"},
	{"truncated JSON", `{"cniVersion":"1.0.0",`, "", "not valid JSON"},
	{"trailing garbage", "{" + minimal + "} x", "", "not valid JSON"},
	{"empty input", ``, "", "not valid JSON"},
	{"JSON list instead of object", `[]`, "", "not valid JSON"},
	{"JSON string instead of object", `"conf"`, "", "not valid JSON"},
	{"JSON null is an empty NetConf", `null`, "cniVersion", "is required"},
}

func TestParseRejectsInvalidNetConfNamingTheField(t *testing.T) {
	for _, tc := range invalidCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse([]byte(tc.data))
			if err == nil {
				t.Fatalf("Parse(%s) = %+v, want an error", tc.data, c)
			}
			checkFieldError(t, err, tc.field, tc.reason)
		})
	}
}

func TestFieldErrorMessageNamesFieldOrSaysConfig(t *testing.T) {
	for _, tc := range []struct {
		err  *config.FieldError
		want string
	}{
		{&config.FieldError{Field: "logLevel", Reason: "is bad"}, `meta-cni config field "logLevel": is bad`},
		{&config.FieldError{Reason: "not valid JSON: x"}, "meta-cni config: not valid JSON: x"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

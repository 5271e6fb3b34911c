// Package config parses and validates meta-cni's own network configuration,
// the NetConf the container runtime passes on stdin.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meta-cni/meta-cni/pkg/pluginlog"
)

// Defaults for fields a NetConf may leave out.
const (
	DefaultCacheDir         = "/var/lib/meta-cni"
	DefaultConfDir          = "/etc/cni/net.d"
	DefaultNetworkNamespace = "kube-system"
	DefaultAPITimeout       = 10 * time.Second
	DefaultReadinessTimeout = 30 * time.Second
)

// SupportedVersions are the CNI spec versions meta-cni speaks.
var SupportedVersions = []string{"0.3.1", "0.4.0", "1.0.0", "1.1.0"}

// NetConf is meta-cni's configuration. Field names follow Multus where the
// two overlap, so existing Multus configurations load unchanged.
type NetConf struct {
	types.PluginConf

	Kubeconfig string `json:"kubeconfig,omitempty"`
	// DaemonSocket is meta-cni-daemon's node API. When it accepts a
	// connection, the plugin's API calls go through the daemon's warm
	// connection; when it does not, the plugin uses Kubeconfig itself.
	DaemonSocket string `json:"daemonSocket,omitempty"`
	// NodeName is the Kubernetes node this conf is installed on; the
	// daemon writes it from spec.nodeName. meta-cni hands it to every
	// delegate as NODE_NAME, so etcd-ipam records and garbage-collects
	// allocations under the node's name, never its hostname.
	NodeName string `json:"nodeName,omitempty"`
	// ClusterNetwork is a NAD name ([ns/]name), a conf name in ConfDir, or
	// an absolute file path; it is attached as eth0.
	ClusterNetwork string `json:"clusterNetwork,omitempty"`
	// Delegates is Multus's inline form, used only when ClusterNetwork is
	// empty: the first entry is the cluster network, and every other entry
	// is attached to every container too.
	Delegates []json.RawMessage `json:"delegates,omitempty"`
	// DefaultNetworks are attached to every pod outside SystemNamespaces.
	DefaultNetworks []string `json:"defaultNetworks,omitempty"`
	// NetworkNamespace holds the NADs named by ClusterNetwork and
	// DefaultNetworks; Multus calls it multusNamespace.
	NetworkNamespace string `json:"multusNamespace,omitempty"`
	// SystemNamespaces' pods skip DefaultNetworks; their own annotations
	// still count, as in Multus.
	SystemNamespaces   []string `json:"systemNamespaces,omitempty"`
	NamespaceIsolation bool     `json:"namespaceIsolation,omitempty"`
	GlobalNamespaces   []string `json:"-"`
	ConfDir            string   `json:"confDir,omitempty"`
	BinDir             string   `json:"binDir,omitempty"`
	CacheDir           string   `json:"cacheDir,omitempty"`
	// LogLevel, LogFile, LogToStderr and LogOptions are Multus's; see
	// pluginlog for what each does.
	LogLevel    string             `json:"logLevel,omitempty"`
	LogFile     string             `json:"logFile,omitempty"`
	LogToStderr *bool              `json:"logToStderr,omitempty"`
	LogOptions  *pluginlog.Options `json:"logOptions,omitempty"`
	// ReadinessIndicatorFile must exist before ADD proceeds; ADD waits for
	// it up to ReadinessTimeout.
	ReadinessIndicatorFile string        `json:"readinessIndicatorFile,omitempty"`
	ReadinessTimeout       time.Duration `json:"-"`
	APITimeout             time.Duration `json:"-"`

	// RuntimeConfig is what the runtime gave meta-cni for the capabilities
	// its conf declares (portMappings, bandwidth, ...); every delegate gets
	// it, as in Multus, and libcni hands each plugin the keys it declares.
	RuntimeConfig map[string]any `json:"runtimeConfig,omitempty"`
}

// FieldError names the field of the NetConf that is wrong.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return "meta-cni config: " + e.Reason
	}
	return fmt.Sprintf("meta-cni config field %q: %s", e.Field, e.Reason)
}

// raw carries the fields whose JSON form needs more than a plain decode.
type raw struct {
	APITimeout       json.RawMessage `json:"apiTimeout,omitempty"`
	ReadinessTimeout json.RawMessage `json:"readinessTimeout,omitempty"`
	// Multus spells it as a comma-separated string.
	GlobalNamespaces json.RawMessage `json:"globalNamespaces,omitempty"`
}

// Parse decodes and validates a NetConf and fills in defaults.
func Parse(data []byte) (*NetConf, error) {
	conf := &NetConf{}
	if err := json.Unmarshal(data, conf); err != nil {
		return nil, decodeError(err)
	}
	var r raw
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, decodeError(err)
	}
	var err error
	if conf.APITimeout, err = parseDuration("apiTimeout", r.APITimeout, DefaultAPITimeout); err != nil {
		return nil, err
	}
	if conf.ReadinessTimeout, err = parseDuration("readinessTimeout", r.ReadinessTimeout, DefaultReadinessTimeout); err != nil {
		return nil, err
	}
	if conf.GlobalNamespaces, err = parseNamespaceList(r.GlobalNamespaces); err != nil {
		return nil, err
	}
	conf.setDefaults()
	return conf, conf.validate()
}

// decodeError names the field a JSON type error is about.
func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		// encoding/json prefixes fields of the embedded struct with its type
		// name, which is not part of the user's JSON.
		field := strings.TrimPrefix(typeErr.Field, "PluginConf.")
		return &FieldError{field, fmt.Sprintf("must be a JSON %s, not %s", typeErr.Type, typeErr.Value)}
	}
	return &FieldError{"", fmt.Sprintf("not valid JSON: %v", err)}
}

func (c *NetConf) setDefaults() {
	if c.CacheDir == "" {
		c.CacheDir = DefaultCacheDir
	}
	if c.ConfDir == "" {
		c.ConfDir = DefaultConfDir
	}
	if c.NetworkNamespace == "" {
		c.NetworkNamespace = DefaultNetworkNamespace
	}
	if c.SystemNamespaces == nil {
		c.SystemNamespaces = []string{"kube-system"}
	}
	// Multus's only non-isolated namespace by default is "default", not
	// multusNamespace: with namespaceIsolation, kube-system's NADs are
	// refused unless globalNamespaces names it.
	if c.GlobalNamespaces == nil {
		c.GlobalNamespaces = []string{"default"}
	}
}

func (c *NetConf) validate() error {
	if c.CNIVersion == "" {
		return &FieldError{"cniVersion", "is required"}
	}
	if !supported(c.CNIVersion) {
		return &FieldError{"cniVersion", fmt.Sprintf("%q is not one of %s", c.CNIVersion, strings.Join(SupportedVersions, ", "))}
	}
	if c.ClusterNetwork == "" && len(c.Delegates) == 0 {
		return &FieldError{"clusterNetwork", "is required (a NetworkAttachmentDefinition name, a conf name in confDir, or a file path)"}
	}
	for i, n := range c.DefaultNetworks {
		if strings.TrimSpace(n) == "" {
			return &FieldError{fmt.Sprintf("defaultNetworks[%d]", i), "is empty"}
		}
	}
	if err := validNamespace("multusNamespace", c.NetworkNamespace); err != nil {
		return err
	}
	for i, ns := range c.SystemNamespaces {
		if err := validNamespace(fmt.Sprintf("systemNamespaces[%d]", i), ns); err != nil {
			return err
		}
	}
	for i, ns := range c.GlobalNamespaces {
		if err := validNamespace(fmt.Sprintf("globalNamespaces[%d]", i), ns); err != nil {
			return err
		}
	}
	if errs := validation.IsDNS1123Subdomain(c.NodeName); c.NodeName != "" && len(errs) > 0 {
		return &FieldError{"nodeName", fmt.Sprintf("%q is not a Kubernetes node name: %s", c.NodeName, strings.Join(errs, "; "))}
	}
	if c.DaemonSocket != "" && !strings.HasPrefix(c.DaemonSocket, "/") {
		return &FieldError{"daemonSocket", fmt.Sprintf("%q must be an absolute path to a unix socket", c.DaemonSocket)}
	}
	if err := c.Log().Validate(); err != nil {
		var ferr *pluginlog.FieldError
		if errors.As(err, &ferr) {
			return &FieldError{ferr.Field, ferr.Reason}
		}
		return &FieldError{"logOptions", err.Error()}
	}
	if c.APITimeout <= 0 {
		return &FieldError{"apiTimeout", "must be positive"}
	}
	if c.ReadinessTimeout <= 0 {
		return &FieldError{"readinessTimeout", "must be positive"}
	}
	return nil
}

// Log is where the plugin's logs go.
func (c *NetConf) Log() pluginlog.Config {
	return pluginlog.Config{File: c.LogFile, Level: c.LogLevel, ToStderr: c.LogToStderr, Options: c.LogOptions}
}

func validNamespace(field, ns string) error {
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return &FieldError{field, fmt.Sprintf("%q is not a valid namespace: %s", ns, strings.Join(errs, "; "))}
	}
	return nil
}

func supported(v string) bool {
	for _, s := range SupportedVersions {
		if s == v {
			return true
		}
	}
	return false
}

// parseDuration accepts a Go duration string ("10s") or a number of seconds.
func parseDuration(field string, data json.RawMessage, def time.Duration) (time.Duration, error) {
	if len(data) == 0 || string(data) == "null" {
		return def, nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		if secs, err := strconv.ParseFloat(s, 64); err == nil {
			return seconds(field, secs)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, &FieldError{field, fmt.Sprintf("%q is not a duration like \"10s\"", s)}
		}
		return d, nil
	}
	var secs float64
	if err := json.Unmarshal(data, &secs); err != nil {
		return 0, &FieldError{field, "must be a duration string like \"10s\" or a number of seconds"}
	}
	return seconds(field, secs)
}

// seconds bounds a number of seconds before converting it: a float outside
// int64's range converts to a platform-defined Duration, possibly positive.
func seconds(field string, secs float64) (time.Duration, error) {
	if math.IsNaN(secs) {
		return 0, &FieldError{field, "is not a number of seconds"}
	}
	if secs > float64(24*time.Hour/time.Second) {
		return 0, &FieldError{field, "is longer than a day"}
	}
	if secs <= 0 {
		return 0, &FieldError{field, "must be positive"}
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// parseNamespaceList accepts a JSON list or Multus's comma-separated string.
func parseNamespaceList(data json.RawMessage) ([]string, error) {
	if len(data) == 0 || string(data) == "null" {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(data, &list); err == nil {
		return list, nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, &FieldError{"globalNamespaces", "must be a list of namespaces or a comma-separated string"}
	}
	list = []string{}
	for _, ns := range strings.Split(s, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			list = append(list, ns)
		}
	}
	return list, nil
}

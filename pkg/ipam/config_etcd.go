package ipam

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// EtcdConfig is how to reach etcd. The *Field members name where each file
// came from, so errors point at the field the user wrote.
type EtcdConfig struct {
	Endpoints      []string
	EndpointsFile  string
	CertFile       string
	KeyFile        string
	TrustedCAFile  string
	DialTimeout    time.Duration
	RequestTimeout time.Duration
	Prefix         string

	CertField, KeyField, CAField, EndpointsField string
}

type etcdJSON struct {
	Endpoints      []string        `json:"endpoints"`
	EndpointsFile  string          `json:"endpointsFile"`
	CertFile       string          `json:"certFile"`
	KeyFile        string          `json:"keyFile"`
	TrustedCAFile  string          `json:"trustedCAFile"`
	DialTimeout    json.RawMessage `json:"dialTimeout"`
	RequestTimeout json.RawMessage `json:"requestTimeout"`
	Prefix         string          `json:"prefix"`
}

// legacyEtcdJSON is the block of the older etcd IPAM plugin, spelled as
// users have it in their clusters, including etcdTrustedCAFileFile.
type legacyEtcdJSON struct {
	EtcdURL               string `json:"etcdURL"`
	EtcdCertFile          string `json:"etcdCertFile"`
	EtcdKeyFile           string `json:"etcdKeyFile"`
	EtcdTrustedCAFileFile string `json:"etcdTrustedCAFileFile"`
}

// parseDuration reads "3s" or a number of seconds; absent means def.
func parseDuration(field string, raw json.RawMessage, def time.Duration) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return def, nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err == nil {
		v, err := time.ParseDuration(str)
		if err != nil {
			return 0, fieldErr(field, "%q is not a duration such as \"5s\"", str)
		}
		return v, nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || f != f {
		return 0, fieldErr(field, "%s is neither a duration string nor a number of seconds", raw)
	}
	if f > 1e6 || f < -1e6 {
		return 0, fieldErr(field, "%s seconds is out of range", raw)
	}
	return time.Duration(f * float64(time.Second)), nil
}

func parseEtcd(ij *ipamJSON) (EtcdConfig, error) {
	e := EtcdConfig{
		DialTimeout:    DefaultDialTimeout,
		RequestTimeout: DefaultRequestTimeout,
		Prefix:         DefaultPrefix,
	}
	switch {
	case ij.Etcd != nil && ij.EtcdConfig != nil:
		return e, fieldErr("ipam.etcdConfig", "set either ipam.etcd or the older ipam.etcdConfig, not both")
	case ij.Etcd != nil:
		j := ij.Etcd
		e.Endpoints = j.Endpoints
		e.EndpointsFile = j.EndpointsFile
		e.CertFile, e.KeyFile, e.TrustedCAFile = j.CertFile, j.KeyFile, j.TrustedCAFile
		e.CertField, e.KeyField, e.CAField, e.EndpointsField = "ipam.etcd.certFile", "ipam.etcd.keyFile", "ipam.etcd.trustedCAFile", "ipam.etcd.endpoints"
		var err error
		if e.DialTimeout, err = parseDuration("ipam.etcd.dialTimeout", j.DialTimeout, DefaultDialTimeout); err != nil {
			return e, err
		}
		if e.RequestTimeout, err = parseDuration("ipam.etcd.requestTimeout", j.RequestTimeout, DefaultRequestTimeout); err != nil {
			return e, err
		}
		if j.Prefix != "" {
			e.Prefix = strings.TrimRight(j.Prefix, "/")
			if e.Prefix == "" {
				return e, fieldErr("ipam.etcd.prefix", "%q leaves no prefix", j.Prefix)
			}
		}
	case ij.EtcdConfig != nil:
		j := ij.EtcdConfig
		for _, s := range strings.Split(j.EtcdURL, ",") {
			if s = strings.TrimSpace(s); s != "" {
				e.Endpoints = append(e.Endpoints, s)
			}
		}
		e.CertFile, e.KeyFile, e.TrustedCAFile = j.EtcdCertFile, j.EtcdKeyFile, j.EtcdTrustedCAFileFile
		e.CertField, e.KeyField, e.CAField, e.EndpointsField = "ipam.etcdConfig.etcdCertFile", "ipam.etcdConfig.etcdKeyFile", "ipam.etcdConfig.etcdTrustedCAFileFile", "ipam.etcdConfig.etcdURL"
	default:
		return e, fieldErr("ipam.etcd", "missing: set ipam.etcd.endpoints (or the older ipam.etcdConfig.etcdURL)")
	}
	if e.DialTimeout <= 0 || e.DialTimeout > 5*time.Minute {
		return e, fieldErr("ipam.etcd.dialTimeout", "%s is outside (0, 5m]", e.DialTimeout)
	}
	if e.RequestTimeout <= 0 || e.RequestTimeout > 5*time.Minute {
		return e, fieldErr("ipam.etcd.requestTimeout", "%s is outside (0, 5m]", e.RequestTimeout)
	}
	if len(e.Endpoints) == 0 && e.EndpointsFile == "" {
		return e, fieldErr(e.EndpointsField, "no etcd endpoint")
	}
	for i, ep := range e.Endpoints {
		if err := checkEndpoint(ep); err != nil {
			return e, fieldErr(fmt.Sprintf("%s[%d]", e.EndpointsField, i), "%v", err)
		}
	}
	if (e.CertFile == "") != (e.KeyFile == "") {
		if e.KeyFile == "" {
			return e, fieldErr(e.KeyField, "missing, but %s is set", e.CertField)
		}
		return e, fieldErr(e.CertField, "missing, but %s is set", e.KeyField)
	}
	return e, nil
}

// checkEndpoint accepts http://host:port, https://host:port and host:port.
func checkEndpoint(ep string) error {
	rest := ep
	if scheme, after, ok := strings.Cut(ep, "://"); ok {
		if scheme != "http" && scheme != "https" {
			return fmt.Errorf("%q: scheme must be http or https", ep)
		}
		rest = after
	}
	rest = strings.TrimSuffix(rest, "/")
	i := strings.LastIndex(rest, ":")
	if i <= 0 || i == len(rest)-1 || strings.ContainsAny(rest, "/ ") {
		return fmt.Errorf("%q is not host:port", ep)
	}
	return nil
}

package ipam

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/url"
	"os"
	"strings"
)

// ClientTLS builds the etcd client TLS config from cfg's certificate, key
// and CA files, or nil for plain-text endpoints without any TLS file. Every
// file error names its field (CertField, KeyField, CAField).
func ClientTLS(cfg EtcdConfig, eps []string) (*tls.Config, error) {
	secure := cfg.CertFile != "" || cfg.TrustedCAFile != ""
	for _, ep := range eps {
		if strings.HasPrefix(ep, "https://") {
			secure = true
		}
	}
	if !secure {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CertFile != "" {
		if _, err := os.Stat(cfg.CertFile); err != nil {
			return nil, fieldErr(cfg.CertField, "%v", err)
		}
		if _, err := os.Stat(cfg.KeyFile); err != nil {
			return nil, fieldErr(cfg.KeyField, "%v", err)
		}
		pair, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fieldErr(cfg.CertField, "load certificate %s with key %s (%s): %v", cfg.CertFile, cfg.KeyFile, cfg.KeyField, err)
		}
		t.Certificates = []tls.Certificate{pair}
	}
	if cfg.TrustedCAFile != "" {
		b, err := os.ReadFile(cfg.TrustedCAFile)
		if err != nil {
			return nil, fieldErr(cfg.CAField, "%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fieldErr(cfg.CAField, "%s holds no PEM certificate", cfg.TrustedCAFile)
		}
		t.RootCAs = pool
	}
	return t, nil
}

// tlsProblem explains a failed request whose cause is a certificate, as
// the config error it is, naming the field to fix; nil for anything else.
func tlsProblem(cfg EtcdConfig, err error) error {
	ep := "etcd"
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			ep = u.Scheme + "://" + u.Host
		}
	}
	var (
		unknownCA *x509.UnknownAuthorityError
		verify    *tls.CertificateVerificationError
		host      x509.HostnameError
		alert     tls.AlertError
	)
	switch {
	case errors.As(err, &host):
		return fieldErr(cfg.EndpointsField, "%s presents a certificate not valid for its address: %v", ep, host)
	case errors.As(err, &unknownCA), errors.As(err, &verify):
		return fieldErr(cfg.CAField, "%s presents a certificate that %q does not trust: %v", ep, cfg.TrustedCAFile, err)
	case errors.As(err, &alert) || strings.Contains(err.Error(), "remote error: tls"):
		if cfg.CertFile == "" {
			return fieldErr(cfg.CertField, "%s requires a client certificate; set %s and %s: %v", ep, cfg.CertField, cfg.KeyField, err)
		}
		return fieldErr(cfg.CertField, "%s rejected the client certificate %s: %v", ep, cfg.CertFile, err)
	}
	return nil
}

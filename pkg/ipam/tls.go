package ipam

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// loadTLS builds the client TLS config, or nil for plain-text endpoints
// without any TLS file. Every file error names its field.
func loadTLS(cfg EtcdConfig, eps []string) (*tls.Config, error) {
	secure := cfg.CertFile != "" || cfg.TrustedCAFile != ""
	for _, ep := range eps {
		if strings.HasPrefix(ep, "https://") || strings.HasPrefix(ep, "unixs://") {
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

// diagnoseTLS is called after a request failed: gRPC hides handshake
// failures behind a timeout, so this dials each endpoint itself and reports
// a certificate problem as the config error it is.
func diagnoseTLS(cfg EtcdConfig, eps []string, base *tls.Config) error {
	for _, ep := range eps {
		u, err := url.Parse(ep)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			continue
		}
		t := base.Clone()
		t.ServerName = u.Hostname()
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second}, Config: t}
		conn, err := d.Dial("tcp", u.Host)
		if err == nil {
			// With TLS 1.3 the server's verdict on our certificate arrives
			// after the handshake, as an alert on the first read.
			_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			_, err = conn.Read(make([]byte, 1))
			conn.Close()
		}
		if err == nil {
			continue
		}
		var (
			unknownCA *x509.UnknownAuthorityError
			verify    *tls.CertificateVerificationError
			host      x509.HostnameError
			alert     tls.AlertError
			ne        net.Error
		)
		switch {
		case errors.As(err, &host):
			return fieldErr(cfg.EndpointsField, "etcd at %s presents a certificate not valid for %s: %v", ep, u.Hostname(), err)
		case errors.As(err, &unknownCA), errors.As(err, &verify):
			return fieldErr(cfg.CAField, "etcd at %s presents a certificate that %q does not trust: %v", ep, cfg.TrustedCAFile, err)
		case errors.As(err, &alert) || strings.Contains(err.Error(), "remote error: tls"):
			if cfg.CertFile == "" {
				return fieldErr(cfg.CertField, "etcd at %s requires a client certificate; set %s and %s: %v", ep, cfg.CertField, cfg.KeyField, err)
			}
			return fieldErr(cfg.CertField, "etcd at %s rejected the client certificate %s: %v", ep, cfg.CertFile, err)
		case errors.As(err, &ne) && ne.Timeout():
			continue
		}
	}
	return nil
}

package ipam

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"strings"
	"time"
)

// Etcd is a connected client and the config it came from, kept together so
// failures can be explained in terms of the fields the user wrote.
type Etcd struct {
	Config    EtcdConfig
	kv        *gateway
	Endpoints []string
	tls       *tls.Config
}

// Connect reads the endpoints file and the TLS files and prepares a client
// of etcd's JSON gateway. Nothing is dialled yet: an unreachable etcd shows
// up on the first request.
func Connect(cfg EtcdConfig) (*Etcd, error) {
	eps, err := endpoints(cfg)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := ClientTLS(cfg, eps)
	if err != nil {
		return nil, err
	}
	return &Etcd{Config: cfg, Endpoints: eps, tls: tlsCfg, kv: newGateway(eps, tlsCfg, cfg.DialTimeout, hedgeAfter(cfg.RequestTimeout))}, nil
}

// Close releases the client.
func (e *Etcd) Close() error {
	e.kv.close()
	return nil
}

// KV is the transaction interface to this etcd.
func (e *Etcd) KV() KV { return e.kv }

// ParseEndpoints reads an endpoints file's content: URLs or host:port
// pairs separated by commas, spaces or newlines, each checked.
func ParseEndpoints(s string) ([]string, error) {
	var eps []string
	for _, ep := range strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r'
	}) {
		if err := checkEndpoint(ep); err != nil {
			return nil, err
		}
		eps = append(eps, ep)
	}
	return eps, nil
}

// endpoints joins the listed endpoints with those in the endpoints file,
// which holds them separated by commas, spaces or newlines.
func endpoints(cfg EtcdConfig) ([]string, error) {
	eps := append([]string(nil), cfg.Endpoints...)
	if cfg.EndpointsFile != "" {
		b, err := os.ReadFile(cfg.EndpointsFile)
		if err != nil {
			return nil, fieldErr("ipam.etcd.endpointsFile", "%v", err)
		}
		fromFile, err := ParseEndpoints(string(b))
		if err != nil {
			return nil, fieldErr("ipam.etcd.endpointsFile", "%s: %v", cfg.EndpointsFile, err)
		}
		eps = append(eps, fromFile...)
	}
	if len(eps) == 0 {
		return nil, fieldErr(cfg.EndpointsField, "no etcd endpoint (endpointsFile %s is empty)", cfg.EndpointsFile)
	}
	return eps, nil
}

// classify turns a failed etcd request into a ConfigError when the cause is
// the TLS setup or the credentials, and into an UnavailableError otherwise.
func (e *Etcd) classify(err error) error {
	if err == nil {
		return nil
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		return err
	}
	if terr := tlsProblem(e.Config, err); terr != nil {
		return terr
	}
	var ng *NoGatewayError
	if errors.As(err, &ng) {
		return fieldErr(e.Config.EndpointsField, "%v", ng)
	}
	var ee *EtcdError
	if errors.As(err, &ee) && (ee.Code == codeUnauthenticated || ee.Code == codePermissionDenied) {
		return fieldErr("ipam.etcd", "etcd rejected the request: %v", ee)
	}
	if re := rejected(err); re != nil {
		return re
	}
	return &UnavailableError{Endpoints: e.Endpoints, Err: err}
}

// rejected is the RejectedError of a request etcd refused as invalid, or
// nil: such a request is never worth sending again.
func rejected(err error) error {
	var ee *EtcdError
	if errors.As(err, &ee) && (ee.Code == codeInvalidArgument || ee.Code == codeOutOfRange) {
		return &RejectedError{Err: ee}
	}
	return nil
}

// transient reports whether a request may be retried within the deadline.
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var ng *NoGatewayError
	if tlsProblem(EtcdConfig{}, err) != nil || errors.As(err, &ng) {
		return false
	}
	var ee *EtcdError
	if errors.As(err, &ee) && !retryOnOther(ee) {
		return false
	}
	return true
}

// hedgeAfter is how long a member may take to answer before the next one is
// asked as well: a fifth of the request timeout, between 0.5 s and 2 s.
func hedgeAfter(requestTimeout time.Duration) time.Duration {
	return min(max(requestTimeout/5, 500*time.Millisecond), 2*time.Second)
}

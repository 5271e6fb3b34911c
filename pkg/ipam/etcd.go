package ipam

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Etcd is a connected client and the config it came from, kept together so
// failures can be explained in terms of the fields the user wrote.
type Etcd struct {
	Client    *clientv3.Client
	Config    EtcdConfig
	Endpoints []string
	tls       *tls.Config
	tlsErr    atomic.Pointer[error]
}

// tlsCheckDelay is how long a request may wait before the endpoints' TLS is
// checked directly; a healthy request finishes well before it.
const tlsCheckDelay = 400 * time.Millisecond

// FailFastOnTLS returns a context that is cancelled if, once a request has
// waited tlsCheckDelay, a direct handshake shows a certificate problem. gRPC
// would otherwise retry the handshake silently until the request timeout.
func (e *Etcd) FailFastOnTLS(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	if e.tls == nil {
		return ctx, cancel
	}
	t := time.AfterFunc(tlsCheckDelay, func() {
		if err := diagnoseTLS(e.Config, e.Endpoints, e.tls); err != nil {
			e.tlsErr.Store(&err)
			cancel()
		}
	})
	return ctx, func() { t.Stop(); cancel() }
}

// Connect reads the endpoints file and the TLS files and opens a client. The
// dial does not block: an unreachable etcd shows up on the first request.
func Connect(cfg EtcdConfig) (*Etcd, error) {
	eps, err := endpoints(cfg)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := loadTLS(cfg, eps)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   eps,
		DialTimeout: cfg.DialTimeout,
		TLS:         tlsCfg,
		Logger:      zap.NewNop(),
		// Without this the client would wait for a dead endpoint's keepalive.
		DialKeepAliveTime:    cfg.RequestTimeout,
		DialKeepAliveTimeout: cfg.DialTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("create etcd client for %s: %w", strings.Join(eps, ","), err)
	}
	return &Etcd{Client: cli, Config: cfg, Endpoints: eps, tls: tlsCfg}, nil
}

// Close releases the client.
func (e *Etcd) Close() error { return e.Client.Close() }

// endpoints joins the listed endpoints with those in the endpoints file,
// which holds them separated by commas, spaces or newlines.
func endpoints(cfg EtcdConfig) ([]string, error) {
	eps := append([]string(nil), cfg.Endpoints...)
	if cfg.EndpointsFile != "" {
		b, err := os.ReadFile(cfg.EndpointsFile)
		if err != nil {
			return nil, fieldErr("ipam.etcd.endpointsFile", "%v", err)
		}
		for _, ep := range strings.FieldsFunc(string(b), func(r rune) bool {
			return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r'
		}) {
			if err := checkEndpoint(ep); err != nil {
				return nil, fieldErr("ipam.etcd.endpointsFile", "%s: %v", cfg.EndpointsFile, err)
			}
			eps = append(eps, ep)
		}
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
	if p := e.tlsErr.Load(); p != nil {
		return *p
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.Unauthenticated, codes.PermissionDenied:
			return fieldErr("ipam.etcd", "etcd rejected the request: %s", s.Message())
		}
	}
	if e.tls != nil {
		if terr := diagnoseTLS(e.Config, e.Endpoints, e.tls); terr != nil {
			return terr
		}
	}
	return &UnavailableError{Endpoints: e.Endpoints, Err: err}
}

// transient reports whether a request may be retried within the deadline.
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.Unauthenticated, codes.PermissionDenied, codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange, codes.ResourceExhausted:
			return false
		}
	}
	return true
}

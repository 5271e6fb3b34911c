package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// DaemonHost is the host name the plugin puts in requests to the node
// daemon's socket; the daemon ignores it.
const DaemonHost = "meta-cni-daemon"

// NewDaemon returns a client that sends the same requests, unauthenticated
// and in plain HTTP, to meta-cni-daemon's node API on a unix socket. The
// daemon forwards them over its own long-lived connection to the API
// server, so a plugin run skips loading a kubeconfig, the TLS handshake and
// the HTTP/2 set-up that a fresh process otherwise pays on every ADD.
func NewDaemon(socket string, timeout time.Duration) *Client {
	dialer := &net.Dialer{Timeout: timeout}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			conn, err := dialer.DialContext(ctx, "unix", socket)
			if err != nil {
				return nil, &DaemonUnavailableError{Socket: socket, Err: err}
			}
			return conn, nil
		},
		MaxIdleConnsPerHost: 4,
		DisableCompression:  true,
	}
	return &Client{
		base:    &url.URL{Scheme: "http", Host: DaemonHost},
		http:    &http.Client{Transport: tr},
		timeout: timeout,
	}
}

// DaemonUnavailableError means nothing accepted a connection on the node
// daemon's socket, so no request reached it and any request may be sent to
// the API server directly instead.
type DaemonUnavailableError struct {
	Socket string
	Err    error
}

func (e *DaemonUnavailableError) Error() string {
	return fmt.Sprintf("meta-cni-daemon node API at %s: %v", e.Socket, e.Err)
}

func (e *DaemonUnavailableError) Unwrap() error { return e.Err }

// IsDaemonUnavailable reports whether err is a failure to connect to the
// node daemon.
func IsDaemonUnavailable(err error) bool {
	var d *DaemonUnavailableError
	return errors.As(err, &d)
}

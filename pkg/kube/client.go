// Package kube is meta-cni's narrow Kubernetes client: one GET per pod, one
// GET per NetworkAttachmentDefinition, the network-status patch and Events.
// It speaks plain JSON over client-go's authenticated transport instead of a
// generated clientset, because a plugin process pays for every scheme it
// registers at start-up on every pod ADD.
package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Client talks to one kube-apiserver.
type Client struct {
	base    *url.URL
	http    *http.Client
	timeout time.Duration
}

// New builds a client from a kubeconfig file; an empty path means the
// in-cluster configuration.
func New(kubeconfig string, timeout time.Duration) (*Client, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig == "" {
		cfg, err = rest.InClusterConfig()
	} else {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %q: %w", kubeconfig, err)
	}
	return NewForConfig(cfg, timeout)
}

// NewForConfig builds a client from a rest.Config.
func NewForConfig(cfg *rest.Config, timeout time.Duration) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = timeout
	cfg.UserAgent = "meta-cni"
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("build kube HTTP client: %w", err)
	}
	host := cfg.Host
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	base, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("parse kube-apiserver address %q: %w", cfg.Host, err)
	}
	return &Client{base: base, http: hc, timeout: timeout}, nil
}

// do sends one request and decodes a 2xx JSON body into out. Any other
// status becomes an *apierrors.StatusError, so callers can use the
// apierrors predicates (IsNotFound, IsForbidden, IsConflict).
func (c *Client) do(ctx context.Context, method, path, contentType string, body []byte, gr schema.GroupResource, name string, out any) error {
	u := *c.base
	path, u.RawQuery, _ = strings.Cut(path, "?")
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return &UnreachableError{Op: method + " " + path, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return &UnreachableError{Op: method + " " + path, Err: err}
	}
	return decodeResponse(resp.StatusCode, data, method, path, gr, name, out)
}

// decodeResponse turns an answer of the API server (or of the node API,
// which forwards it) into out or an error. A non-2xx answer is always an
// *apierrors.StatusError: the body's Status when it is a failure, as
// client-go reads it, else one made from the HTTP code, so a 503 or a 429
// whose body is not a failure Status still reads as "try later".
func decodeResponse(code int, data []byte, method, path string, gr schema.GroupResource, name string, out any) error {
	if code >= 200 && code < 300 {
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decode %s %s: %w", method, path, err)
		}
		return nil
	}
	var status metav1.Status
	if json.Unmarshal(data, &status) == nil && status.Status == metav1.StatusFailure {
		if status.Code == 0 {
			status.Code = int32(code)
		}
		return &apierrors.StatusError{ErrStatus: status}
	}
	return apierrors.NewGenericServerResponse(code, method, gr, name, strings.TrimSpace(string(data)), 0, false)
}

// UnreachableError means the API server could not be reached or did not
// answer in time; the runtime should try again later.
type UnreachableError struct {
	Op  string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("kube-apiserver unreachable (%s): %v", e.Op, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// IsUnreachable reports whether err means "API down or too slow".
func IsUnreachable(err error) bool {
	var u *UnreachableError
	if errors.As(err, &u) {
		return true
	}
	return apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || apierrors.IsServiceUnavailable(err) ||
		apierrors.IsTooManyRequests(err) || errors.Is(err, context.DeadlineExceeded)
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

const (
	defaultTimeout = 2 * time.Second
	maxTimeout     = 30 * time.Second
	// bodyPrefix is how much of a dialled server's answer /dial returns:
	// enough to recognise which pod answered.
	bodyPrefix = 512
)

func newMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", handleIdentity)
	mux.HandleFunc("GET /dial", handleDial)
	mux.HandleFunc("GET /ping", handlePing)
	return mux
}

// Identity is what GET / answers: who this pod is on every interface.
type Identity struct {
	Hostname   string      `json:"hostname"`
	Interfaces []Interface `json:"interfaces"`
}

// Interface is one link as the pod sees it; Addrs are CIDRs.
type Interface struct {
	Name  string   `json:"name"`
	MAC   string   `json:"mac,omitempty"`
	Up    bool     `json:"up"`
	Addrs []string `json:"addrs"`
}

func identity() (Identity, error) {
	host, err := os.Hostname()
	if err != nil {
		return Identity{}, fmt.Errorf("read hostname: %w", err)
	}
	links, err := net.Interfaces()
	if err != nil {
		return Identity{}, fmt.Errorf("list interfaces: %w", err)
	}
	id := Identity{Hostname: host, Interfaces: []Interface{}}
	for _, l := range links {
		addrs, err := l.Addrs()
		if err != nil {
			return Identity{}, fmt.Errorf("list addresses of %s: %w", l.Name, err)
		}
		it := Interface{Name: l.Name, MAC: l.HardwareAddr.String(), Up: l.Flags&net.FlagUp != 0, Addrs: []string{}}
		for _, a := range addrs {
			it.Addrs = append(it.Addrs, a.String())
		}
		id.Interfaces = append(id.Interfaces, it)
	}
	return id, nil
}

// writeIdentity writes the identity as GET / does, for `workload -identity`.
func writeIdentity(w io.Writer) error {
	id, err := identity()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(id)
}

func handleIdentity(w http.ResponseWriter, _ *http.Request) {
	id, err := identity()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, id)
}

// DialResult is what /dial answers. OK means the TCP connection (proto
// tcp) or the HTTP exchange (proto http, any status) succeeded.
type DialResult struct {
	Addr   string  `json:"addr"`
	Proto  string  `json:"proto"`
	OK     bool    `json:"ok"`
	Status int     `json:"status,omitempty"`
	Body   string  `json:"body,omitempty"`
	Local  string  `json:"local,omitempty"` // the source address the pod used
	Millis float64 `json:"ms"`
	Error  string  `json:"error,omitempty"`
}

func handleDial(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	addr, proto := q.Get("addr"), q.Get("proto")
	if proto == "" {
		proto = "http"
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		http.Error(w, fmt.Sprintf("addr %q: want host:port: %v", addr, err), http.StatusBadRequest)
		return
	}
	if proto != "http" && proto != "tcp" {
		http.Error(w, fmt.Sprintf("proto %q: want http or tcp", proto), http.StatusBadRequest)
		return
	}
	timeout, err := parseTimeout(q.Get("timeout"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	writeJSON(w, dial(ctx, proto, addr, q.Get("path")))
}

func dial(ctx context.Context, proto, addr, path string) (res DialResult) {
	res = DialResult{Addr: addr, Proto: proto}
	start := time.Now()
	defer func() { res.Millis = float64(time.Since(start).Microseconds()) / 1000 }()
	var d net.Dialer
	if proto == "tcp" {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			res.Error = err.Error()
			return res
		}
		res.OK, res.Local = true, conn.LocalAddr().String()
		conn.Close()
		return res
	}
	// A fresh transport per call: no connection kept from an earlier dial
	// can make a now-unreachable address look reachable.
	tr := &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, a)
		if err == nil {
			res.Local = conn.LocalAddr().String()
		}
		return conn, err
	}, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	if path == "" || path[0] != '/' {
		path = "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, bodyPrefix))
	res.OK, res.Status, res.Body = true, resp.StatusCode, string(body)
	if err != nil {
		res.Error = fmt.Sprintf("read body: %v", err)
	}
	return res
}

// parseTimeout reads a Go duration ("500ms"), bounded so a test's typo
// cannot hold a handler for minutes.
func parseTimeout(s string) (time.Duration, error) {
	if s == "" {
		return defaultTimeout, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if secs, err2 := strconv.ParseFloat(s, 64); err2 == nil {
			d, err = time.Duration(secs*float64(time.Second)), nil
		}
	}
	if err != nil || d <= 0 || d > maxTimeout {
		return 0, fmt.Errorf("timeout %q: want a duration in (0, %s]", s, maxTimeout)
	}
	return d, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

package main

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// get calls the workload's mux in process and decodes its JSON answer.
func get(t *testing.T, target string, into any) int {
	t.Helper()
	rec := httptest.NewRecorder()
	newMux().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	if rec.Code == http.StatusOK {
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("GET %s: Content-Type %q", target, ct)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), into); err != nil {
			t.Fatalf("GET %s: decode %q: %v", target, rec.Body.String(), err)
		}
	}
	return rec.Code
}

func TestIdentityReportsHostnameAndLoopback(t *testing.T) {
	var id Identity
	if code := get(t, "/", &id); code != http.StatusOK {
		t.Fatalf("GET / = %d", code)
	}
	host, _ := os.Hostname()
	if id.Hostname != host {
		t.Fatalf("hostname %q, want %q", id.Hostname, host)
	}
	i := slices.IndexFunc(id.Interfaces, func(it Interface) bool { return it.Name == "lo" })
	if i < 0 {
		t.Fatalf("no lo in %+v", id.Interfaces)
	}
	if !slices.Contains(id.Interfaces[i].Addrs, "127.0.0.1/8") {
		t.Fatalf("lo addresses %v lack 127.0.0.1/8", id.Interfaces[i].Addrs)
	}
}

// TestIdentityFlagPrintsWhatGetRootAnswers: `workload -identity`, the
// command the e2e tests exec in a pod, prints the same JSON as GET /.
func TestIdentityFlagPrintsWhatGetRootAnswers(t *testing.T) {
	var served Identity
	if code := get(t, "/", &served); code != http.StatusOK {
		t.Fatalf("GET / = %d", code)
	}
	var out strings.Builder
	if err := writeIdentity(&out); err != nil {
		t.Fatal(err)
	}
	var printed Identity
	if err := json.Unmarshal([]byte(out.String()), &printed); err != nil {
		t.Fatalf("-identity printed %q: %v", out.String(), err)
	}
	if printed.Hostname != served.Hostname || len(printed.Interfaces) != len(served.Interfaces) {
		t.Errorf("-identity printed %+v, GET / answers %+v", printed, served)
	}
}

func TestIdentityAnswersOnlyTheRoot(t *testing.T) {
	if code := get(t, "/nothing-here", nil); code != http.StatusNotFound {
		t.Fatalf("GET /nothing-here = %d, want 404", code)
	}
}

func TestDialHTTPReportsStatusAndBodyPrefix(t *testing.T) {
	long := strings.Repeat("x", 2*bodyPrefix)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte(r.URL.Path + " " + long))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	var res DialResult
	if code := get(t, "/dial?path=/who&addr="+url.QueryEscape(addr), &res); code != http.StatusOK {
		t.Fatalf("GET /dial = %d", code)
	}
	if !res.OK || res.Proto != "http" || res.Status != http.StatusTeapot || res.Error != "" {
		t.Fatalf("dial = %+v", res)
	}
	if len(res.Body) != bodyPrefix || !strings.HasPrefix(res.Body, "/who xxx") {
		t.Fatalf("body %d bytes %q..., want the first %d bytes of the answer", len(res.Body), res.Body[:10], bodyPrefix)
	}
	if host, _, _ := net.SplitHostPort(res.Local); host != "127.0.0.1" {
		t.Fatalf("local address %q, want 127.0.0.1:port", res.Local)
	}
}

func TestDialTCPConnectsWithoutHTTP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var res DialResult
	get(t, "/dial?proto=tcp&addr="+ln.Addr().String(), &res)
	if !res.OK || res.Proto != "tcp" || res.Status != 0 || res.Error != "" || res.Local == "" {
		t.Fatalf("dial = %+v", res)
	}
}

// A failed dial is a result in a 200 answer, so a test can tell "the pod
// cannot reach it" from "the workload is broken".
func TestDialFailureIsAResultNotAnHTTPError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	for _, proto := range []string{"http", "tcp"} {
		var res DialResult
		if code := get(t, "/dial?proto="+proto+"&addr="+closed, &res); code != http.StatusOK {
			t.Fatalf("%s: GET /dial = %d, want 200", proto, code)
		}
		if res.OK || !strings.Contains(res.Error, "connection refused") {
			t.Fatalf("%s: dial = %+v, want connection refused", proto, res)
		}
	}
}

func TestDialGivesUpAtTheTimeout(t *testing.T) {
	// A server that accepts and never answers: only the timeout ends it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	start := time.Now()
	var res DialResult
	get(t, "/dial?timeout=200ms&addr="+ln.Addr().String(), &res)
	if res.OK || res.Error == "" {
		t.Fatalf("dial = %+v, want a timeout", res)
	}
	if took := time.Since(start); took > 2*time.Second || res.Millis < 150 {
		t.Fatalf("took %s (reported %.0f ms) for a 200ms timeout", took, res.Millis)
	}
}

func TestBadQueriesAreRejected(t *testing.T) {
	for _, target := range []string{
		"/dial",
		"/dial?addr=10.0.0.1",
		"/dial?addr=10.0.0.1:80&proto=udp",
		"/dial?addr=10.0.0.1:80&timeout=-1s",
		"/dial?addr=10.0.0.1:80&timeout=1h",
		"/ping",
		"/ping?addr=not-an-ip",
		"/ping?addr=10.0.0.1:80",
		"/ping?addr=10.0.0.1&timeout=soon",
	} {
		if code := get(t, target, nil); code != http.StatusBadRequest {
			t.Errorf("GET %s = %d, want 400", target, code)
		}
	}
}

func TestParseTimeout(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"": defaultTimeout, "500ms": 500 * time.Millisecond, "1.5": 1500 * time.Millisecond, "30s": maxTimeout,
	} {
		got, err := parseTimeout(in)
		if err != nil || got != want {
			t.Errorf("parseTimeout(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "31s", "x", "-2"} {
		if _, err := parseTimeout(in); err == nil {
			t.Errorf("parseTimeout(%q) succeeded", in)
		}
	}
}

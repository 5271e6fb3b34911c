package report

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// BenchmarkSend is what a report adds to a plugin run, beside the baseline
// of one answered request over the same socket, which the plugin already
// makes several times per ADD through the node API.
func BenchmarkSend(b *testing.B) {
	path := socketPath(b)
	ln, err := net.Listen("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	b.Run("report", func(b *testing.B) {
		for b.Loop() {
			if err := Send(path, Run{Verb: "ADD", Seconds: 0.0123}, time.Second); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline=answered-request", func(b *testing.B) {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		}}}
		for b.Loop() {
			resp, err := c.Get("http://meta-cni-daemon/healthz")
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
		}
	})
}

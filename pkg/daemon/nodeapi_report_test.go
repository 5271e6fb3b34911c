package daemon

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/meta-cni/meta-cni/pkg/report"
)

// Plugin runs, as the plugin reports them after answering the runtime,
// become the per-verb latency histogram and the per-code error counter.
func TestPluginRunReportsBecomeLatencyAndErrorSeries(t *testing.T) {
	a := serveNAPI(t, &rest.Config{Host: "https://127.0.0.1:1"}, "")
	for _, run := range []report.Run{
		{Verb: "ADD", Seconds: 0.02},
		{Verb: "ADD", Seconds: 0.018},
		{Verb: "ADD", Seconds: 0.3, Code: 7},
		{Verb: "DEL", Seconds: 0.009},
		{Verb: "GC", Seconds: 2, Code: 11},
	} {
		if err := report.Send(a.sock, run, time.Second); err != nil {
			t.Fatalf("Send %+v: %v", run, err)
		}
	}
	want := map[string]float64{
		`meta_cni_plugin_duration_seconds_count{verb="ADD",result="success"}`:             2,
		`meta_cni_plugin_duration_seconds_bucket{verb="ADD",result="success",le="0.025"}`: 2,
		`meta_cni_plugin_duration_seconds_bucket{verb="ADD",result="success",le="0.01"}`:  0,
		`meta_cni_plugin_duration_seconds_count{verb="ADD",result="error"}`:               1,
		`meta_cni_plugin_duration_seconds_count{verb="DEL",result="success"}`:             1,
		`meta_cni_plugin_duration_seconds_count{verb="GC",result="error"}`:                1,
		`meta_cni_plugin_errors_total{verb="ADD",code="7"}`:                               1,
		`meta_cni_plugin_errors_total{verb="GC",code="11"}`:                               1,
		`meta_cni_plugin_errors_total{verb="DEL",code="0"}`:                               -1,
	}
	eventually(t, 5*time.Second, func() (bool, string) {
		var bad []string
		for series, v := range want {
			if got := a.metric(t, series); got != v {
				bad = append(bad, fmt.Sprintf("%s = %v, want %v", series, got, v))
			}
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})
	if sum := a.metric(t, `meta_cni_plugin_duration_seconds_sum{verb="ADD",result="success"}`); sum < 0.0379 || sum > 0.0381 {
		t.Errorf("ADD success sum = %v, want 0.038", sum)
	}
}

func TestPluginRunReportsThatNoPluginSendsAreRefusedAndNotCounted(t *testing.T) {
	a := serveNAPI(t, &rest.Config{Host: "https://127.0.0.1:1"}, "")
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", a.sock)
	}}}
	for _, body := range []string{
		`{"verb":"VERSION","seconds":0.01}`,
		`{"verb":"ADD","seconds":-1}`,
		`{"verb":"ADD","seconds":0.01,"code":5000}`,
		`{"verb":"ADD","seconds":0.01,"pod":"x"}`,
		`{"verb":"ADD",`,
		`{"verb":"ADD","seconds":0.01,"pad":"` + strings.Repeat("x", 8<<10) + `"}`,
	} {
		resp, err := c.Post("http://meta-cni-daemon"+report.Path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("report %.60s: %d, want 400", body, resp.StatusCode)
		}
	}
	if got := a.metric(t, `meta_cni_plugin_duration_seconds_count{verb="ADD",result="success"}`); got != -1 {
		t.Errorf("refused reports were counted: %v", got)
	}
}

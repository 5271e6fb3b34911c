package daemon

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/pkg/delegate"
)

// family is one metric parsed back from the text exposition format.
type family struct {
	help, typ string
	samples   map[string]float64 // rendered label set ("" for none) → value
}

// parseExposition is a strict reader of the subset of the Prometheus text
// format the daemon writes: every sample must follow its HELP and TYPE.
func parseExposition(t *testing.T, r io.Reader) map[string]*family {
	t.Helper()
	out := map[string]*family{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, help, _ := strings.Cut(rest, " ")
			if out[name] != nil {
				t.Fatalf("line %d: second HELP for %s", n, name)
			}
			out[name] = &family{help: help, samples: map[string]float64{}}
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			if out[name] == nil || out[name].typ != "" {
				t.Fatalf("line %d: TYPE of %s must follow its HELP, once", n, name)
			}
			if typ != "gauge" && typ != "counter" {
				t.Fatalf("line %d: TYPE %q of %s", n, typ, name)
			}
			out[name].typ = typ
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("line %d: %q is not a sample", n, line)
		}
		name, labels, _ := strings.Cut(series, "{")
		f := out[name]
		if f == nil || f.typ == "" {
			t.Fatalf("line %d: sample of %s before its HELP and TYPE", n, name)
		}
		if f.typ == "counter" && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s does not end in _total", name)
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("line %d: value %q: %v", n, value, err)
		}
		f.samples[strings.TrimSuffix(labels, "}")] = v
	}
	return out
}

func scrape(t *testing.T, d *Daemon, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestMetricsReportInstallTokenAndAttachments(t *testing.T) {
	f := newFixture(t)
	before := time.Now()
	if err := f.d.Install(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, f.cfg.TokenFile, "token-2", 0o600)
	f.d.RefreshCredentials()

	store := delegate.RecordStore{Dir: filepath.Join(f.cfg.CacheDir, "attachments")}
	odd := `file:/etc/cni/net.d/a"b\c.conf`
	for id, networks := range map[string][]string{
		"c1": {"kube-system/cbr0", "default/macvlan-conf"},
		"c2": {"kube-system/cbr0", "default/macvlan-conf", "ns1/net-a"},
		"c3": {"kube-system/cbr0", odd},
	} {
		r := &delegate.Record{ContainerID: id, PodNamespace: "default", PodName: "pod-" + id}
		for _, n := range networks {
			r.Delegates = append(r.Delegates, delegate.Delegate{Network: n, ConfList: []byte(`{}`)})
		}
		if err := store.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	// A corrupt record must not hide the others.
	if err := os.WriteFile(filepath.Join(store.Dir, "broken.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}

	rec := httptest.NewRecorder()
	f.d.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q, want the Prometheus text format", ct)
	}
	got := parseExposition(t, rec.Body)

	want := []struct {
		name, typ, labels string
		value             float64
	}{
		{"meta_cni_daemon_info", "gauge", `version="` + Version + `"`, 1},
		{"meta_cni_token_refreshes_total", "counter", "", 1},
		{"meta_cni_token_refresh_errors_total", "counter", "", 0},
		{"meta_cni_attachments", "gauge", "", 3},
		{"meta_cni_attachment_networks", "gauge", `network="kube-system/cbr0"`, 3},
		{"meta_cni_attachment_networks", "gauge", `network="default/macvlan-conf"`, 2},
		{"meta_cni_attachment_networks", "gauge", `network="ns1/net-a"`, 1},
		{"meta_cni_attachment_networks", "gauge", `network="file:/etc/cni/net.d/a\"b\\c.conf"`, 1},
	}
	for _, w := range want {
		fam := got[w.name]
		if fam == nil {
			t.Errorf("%s missing", w.name)
			continue
		}
		if fam.typ != w.typ || fam.help == "" {
			t.Errorf("%s: TYPE %q HELP %q, want TYPE %s and a HELP text", w.name, fam.typ, fam.help, w.typ)
		}
		if v, ok := fam.samples[w.labels]; !ok || v != w.value {
			t.Errorf("%s{%s} = %v (present %v), want %v", w.name, w.labels, v, ok, w.value)
		}
	}
	if n := len(got["meta_cni_attachment_networks"].samples); n != 4 {
		t.Errorf("meta_cni_attachment_networks has %d series, want 4", n)
	}
	ts := got["meta_cni_install_timestamp_seconds"]
	if ts == nil || ts.typ != "gauge" {
		t.Fatalf("meta_cni_install_timestamp_seconds missing or not a gauge")
	}
	if v := ts.samples[""]; v < float64(before.Unix()) || v > float64(time.Now().Unix()+1) {
		t.Errorf("install timestamp %v, want between %d and now", v, before.Unix())
	}
}

func TestMetricsBeforeInstallShowZeroTimestampAndNoAttachments(t *testing.T) {
	f := newFixture(t)
	code, body := scrape(t, f.d, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", code)
	}
	got := parseExposition(t, strings.NewReader(body))
	if v := got["meta_cni_install_timestamp_seconds"].samples[""]; v != 0 {
		t.Errorf("install timestamp %v before install, want 0", v)
	}
	if v := got["meta_cni_attachments"].samples[""]; v != 0 {
		t.Errorf("attachments %v with no cache dir, want 0", v)
	}
	if fam := got["meta_cni_attachment_networks"]; fam == nil || len(fam.samples) != 0 {
		t.Errorf("meta_cni_attachment_networks should be declared with no series, got %+v", fam)
	}
}

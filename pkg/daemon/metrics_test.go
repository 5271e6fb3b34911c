package daemon

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/delegate"
	"github.com/meta-cni/meta-cni/pkg/release"
	"github.com/meta-cni/meta-cni/pkg/routing"
)

func scrape(t *testing.T, d *Daemon, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

// value is testenv.MetricValue for tests.
func value(t *testing.T, g prometheus.Gatherer, series string) float64 {
	t.Helper()
	v, err := testenv.MetricValue(g, series)
	if err != nil {
		t.Fatal(err)
	}
	return v
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
	// Records hold conflists as Build writes them: named and versioned.
	veth := `{"cniVersion":"1.0.0","name":"macvlan-conf","plugins":[{"type":"macvlan"},{"type":"host-route"}]}`
	bridge := `{"cniVersion":"1.0.0","name":"macvlan-conf","plugins":[{"type":"macvlan"},{"type":"host-route","mode":"macvlan-bridge"}]}`
	for id, networks := range map[string][][2]string{
		"c1": {{"kube-system/cbr0", `{}`}, {"default/macvlan-conf", veth}},
		"c2": {{"kube-system/cbr0", `{}`}, {"default/macvlan-conf", veth}, {"ns1/net-a", bridge}},
		"c3": {{"kube-system/cbr0", `{}`}, {odd, bridge}},
	} {
		r := &delegate.Record{ContainerID: id, PodNamespace: "default", PodName: "pod-" + id}
		for _, n := range networks {
			r.Delegates = append(r.Delegates, delegate.Delegate{Network: n[0], ConfList: []byte(n[1])})
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
	if err := testutil.GatherAndCompare(f.d.registry, strings.NewReader(`
# HELP meta_cni_attachment_networks Delegates attached on this node, per network (namespace/name of a NetworkAttachmentDefinition, or file:<path>).
# TYPE meta_cni_attachment_networks gauge
meta_cni_attachment_networks{network="default/macvlan-conf"} 2
meta_cni_attachment_networks{network="file:/etc/cni/net.d/a\"b\\c.conf"} 1
meta_cni_attachment_networks{network="kube-system/cbr0"} 3
meta_cni_attachment_networks{network="ns1/net-a"} 1
# HELP meta_cni_attachments Containers with an attachment record in meta-cni's cache on this node.
# TYPE meta_cni_attachments gauge
meta_cni_attachments 3
# HELP meta_cni_daemon_info Version of the running meta-cni-daemon; the value is always 1.
# TYPE meta_cni_daemon_info gauge
meta_cni_daemon_info{version="`+release.Version+`"} 1
# HELP meta_cni_host_route_pods Pods on this node that host-route serves, per mode, from meta-cni's attachment records.
# TYPE meta_cni_host_route_pods gauge
meta_cni_host_route_pods{mode="macvlan-bridge"} 2
meta_cni_host_route_pods{mode="veth"} 2
# HELP meta_cni_token_refresh_errors_total Token refreshes that failed to read the projected token or write the host copy.
# TYPE meta_cni_token_refresh_errors_total counter
meta_cni_token_refresh_errors_total 0
# HELP meta_cni_token_refreshes_total Times a rotated ServiceAccount token was copied to the host.
# TYPE meta_cni_token_refreshes_total counter
meta_cni_token_refreshes_total 1
`), "meta_cni_attachment_networks", "meta_cni_attachments", "meta_cni_daemon_info", "meta_cni_host_route_pods",
		"meta_cni_token_refresh_errors_total", "meta_cni_token_refreshes_total"); err != nil {
		t.Error(err)
	}
	if v := value(t, f.d.registry, "meta_cni_install_timestamp_seconds"); v < float64(before.Unix()) || v > float64(time.Now().Unix()+1) {
		t.Errorf("install timestamp %v, want between %d and now", v, before.Unix())
	}
}

func TestMetricsBeforeInstallShowZeroTimestampAndNoAttachments(t *testing.T) {
	f := newFixture(t)
	if code, _ := scrape(t, f.d, "/metrics"); code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", code)
	}
	if v := value(t, f.d.registry, "meta_cni_install_timestamp_seconds"); v != 0 {
		t.Errorf("install timestamp %v before install, want 0", v)
	}
	if v := value(t, f.d.registry, "meta_cni_attachments"); v != 0 {
		t.Errorf("attachments %v with no cache dir, want 0", v)
	}
	if n := testutil.CollectAndCount(daemonCollector{f.d}, "meta_cni_attachment_networks"); n != 0 {
		t.Errorf("meta_cni_attachment_networks has %d series with no records, want none", n)
	}
}

// Every series the daemon exports is declared in MetricFamilies with its
// type, so the chart's alerts and dashboard can be checked against it.
func TestMetricFamiliesDeclareEverySeriesTheDaemonExports(t *testing.T) {
	f := newFixture(t)
	if err := f.d.Install(); err != nil {
		t.Fatal(err)
	}
	declared := MetricFamilies()
	mfs, err := f.d.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if typ := strings.ToLower(mf.GetType().String()); declared[mf.GetName()] != typ {
			t.Errorf("%s is exported as a %s but declared as %q", mf.GetName(), typ, declared[mf.GetName()])
		}
	}
	for _, name := range []string{"meta_cni_plugin_duration_seconds", "meta_cni_ipam_pool_addresses", "process_resident_memory_bytes", "go_goroutines"} {
		if declared[name] == "" {
			t.Errorf("MetricFamilies lacks %s", name)
		}
	}
	if problems, err := testutil.GatherAndLint(f.d.registry); err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %+v", err, problems)
	}
}

// The host-route gauge counts the host-route plugins libcni runs from a
// record's conflist, in the mode host-route reads from the same bytes.
func TestHostRouteModesAreWhatLibcniRuns(t *testing.T) {
	for _, tc := range []struct {
		name, conflist string
		want           []routing.Mode
	}{
		{"a chain with host-route", `{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"macvlan"},{"type":"host-route","mode":"macvlan-bridge"}]}`,
			[]routing.Mode{routing.ModeMacvlanBridge}},
		{"no mode is veth", `{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"host-route"}]}`, []routing.Mode{routing.ModeVeth}},
		{"a Plugins key runs nothing", `{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"macvlan"}],"Plugins":[{"type":"host-route"}]}`, nil},
		{"mode beside Mode", `{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"host-route","mode":"macvlan-bridge","Mode":"veth"}]}`,
			[]routing.Mode{routing.ModeMacvlanBridge}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := hostRouteModes([]byte(tc.conflist))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("modes %v, want %v", got, tc.want)
			}
			// host-route's own parse of each plugin libcni would run.
			list, err := libcni.ConfListFromBytes([]byte(tc.conflist))
			if err != nil {
				t.Fatal(err)
			}
			var ran []routing.Mode
			for _, p := range list.Plugins {
				if p.Network.Type != "host-route" {
					continue
				}
				conf, err := libcni.InjectConf(p, map[string]any{"name": list.Name, "cniVersion": list.CNIVersion,
					"prevResult": map[string]any{"cniVersion": "1.0.0", "ips": []any{map[string]any{"address": "10.0.0.5/24"}}},
					"hostIPs":    []string{"10.0.0.1"}})
				if err != nil {
					t.Fatal(err)
				}
				c, err := routing.ParseConfig(conf.Bytes)
				if err != nil {
					t.Fatalf("host-route refuses %s: %v", conf.Bytes, err)
				}
				ran = append(ran, c.Mode)
			}
			if !slices.Equal(got, ran) {
				t.Errorf("counted %v, host-route runs %v", got, ran)
			}
		})
	}
}

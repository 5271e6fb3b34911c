package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

type dashboardPanel struct {
	ID         int              `json:"id"`
	Type       string           `json:"type"`
	Title      string           `json:"title"`
	Datasource *json.RawMessage `json:"datasource"`
	Panels     []dashboardPanel `json:"panels"`
	Targets    []struct {
		Expr       string          `json:"expr"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
}

type grafanaDashboard struct {
	UID        string           `json:"uid"`
	Panels     []dashboardPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// dashboardConfigMap renders the dashboard's ConfigMap with args and writes
// the dashboard it carries into a temp file.
func dashboardConfigMap(t *testing.T, args ...string) (*unstructured.Unstructured, string) {
	t.Helper()
	cm := find(t, render(t, append([]string{"--set", dashboardOn}, args...)...), "ConfigMap", "meta-cni-dashboard")
	data, _, _ := unstructured.NestedString(cm.Object, "data", "meta-cni.json")
	file := filepath.Join(t.TempDir(), "meta-cni.json")
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return cm, file
}

func TestDashboardConfigMapCarriesTheSidecarLabel(t *testing.T) {
	cm, _ := dashboardConfigMap(t)
	if cm.GetLabels()["grafana_dashboard"] != "1" || cm.GetNamespace() != "kube-system" {
		t.Errorf("dashboard ConfigMap labels %v in %q, want grafana_dashboard=1 in the release namespace", cm.GetLabels(), cm.GetNamespace())
	}
	cm, _ = dashboardConfigMap(t, "--set", "metrics.dashboard.labels.grafana_dashboard=null",
		"--set-string", "metrics.dashboard.labels.dashboards=meta", "--set", "metrics.dashboard.namespace=monitoring",
		"--set", "metrics.dashboard.annotations.grafana_folder=Network")
	if l := cm.GetLabels(); l["dashboards"] != "meta" || l["grafana_dashboard"] != "" || cm.GetNamespace() != "monitoring" ||
		cm.GetAnnotations()["grafana_folder"] != "Network" {
		t.Errorf("dashboard ConfigMap labels %v annotations %v in %q, want dashboards=meta only, grafana_folder=Network, in monitoring",
			l, cm.GetAnnotations(), cm.GetNamespace())
	}
}

func TestDashboardQueriesParseAndNameOnlyExportedSeries(t *testing.T) {
	_, file := dashboardConfigMap(t)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := os.ReadFile(filepath.Join(chartDir(), "files", "dashboard.json"))
	if err != nil || strings.TrimSpace(string(shipped)) != strings.TrimSpace(string(data)) {
		t.Fatalf("the ConfigMap does not carry files/dashboard.json as it is (%v)", err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("the dashboard does not load: %v", err)
	}
	exprs, err := testenv.Promcheck("-dashboard", file)
	if err != nil {
		t.Fatalf("Prometheus refuses a dashboard query: %v", err)
	}
	requireExportedSeries(t, exprs)

	// Every query panel goes through the datasource variable, and the
	// panels an operator needs are there.
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Type+":"+v.Name)
	}
	if !slices.Contains(vars, "datasource:datasource") || !slices.Contains(vars, "query:node") {
		t.Errorf("dashboard variables %v, want a datasource variable and a node variable", vars)
	}
	ids := map[int]bool{}
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			walk(p.Panels)
			if ids[p.ID] {
				t.Errorf("panel %q repeats id %d", p.Title, p.ID)
			}
			ids[p.ID] = true
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || !strings.Contains(string(*p.Datasource), `"${datasource}"`) || len(p.Targets) == 0 {
				t.Errorf("panel %q: datasource %s, %d targets; want ${datasource} and a query", p.Title, ptrString(p.Datasource), len(p.Targets))
			}
			for _, tg := range p.Targets {
				if !strings.Contains(string(tg.Datasource), `"${datasource}"`) {
					t.Errorf("panel %q target %q does not use ${datasource}", p.Title, tg.Expr)
				}
			}
		}
	}
	walk(d.Panels)
	all := make([]string, 0, len(exprs))
	for _, e := range exprs {
		all = append(all, strings.Join(strings.Fields(e.Expr), " "))
	}
	for what, parts := range map[string][]string{
		"pool used/total": {"meta_cni_ipam_pool_addresses", `state="used"`, " / ", `state="total"`},
		"pool free":       {"meta_cni_ipam_pool_addresses", `state="free"`},
		"ADD p50":         {"histogram_quantile(0.5,", "by (node, le)", "meta_cni_plugin_duration_seconds_bucket", `verb="ADD"`},
		"ADD p95":         {"histogram_quantile(0.95,", "by (node, le)", "meta_cni_plugin_duration_seconds_bucket", `verb="ADD"`},
		"DEL p50":         {"histogram_quantile(0.5,", "by (node, le)", "meta_cni_plugin_duration_seconds_bucket", `verb="DEL"`},
		"DEL p95":         {"histogram_quantile(0.95,", "by (node, le)", "meta_cni_plugin_duration_seconds_bucket", `verb="DEL"`},
		"errors by code":  {"by (verb, code)", "meta_cni_plugin_errors_total"},
		"releases":        {"meta_cni_ipam_reconcile_released_total"},
		"status pending":  {"meta_cni_network_status_pending"},
		"status failed":   {"by (result)", "meta_cni_network_status_patches_total"},
		"node API p95":    {"histogram_quantile(0.95,", "meta_cni_node_api_request_duration_seconds_bucket"},
	} {
		if !slices.ContainsFunc(all, func(e string) bool {
			return !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(e, p) })
		}) {
			t.Errorf("no dashboard query shows %s (one with %q)", what, parts)
		}
	}
}

func ptrString(r *json.RawMessage) string {
	if r == nil {
		return "none"
	}
	return string(*r)
}

package chart

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// The alerts the README's runbook documents.
var wantAlerts = []string{
	"MetaCNIIPAMPoolCountFailing", "MetaCNIIPAMReconcilerErrors", "MetaCNINetworkStatusPatchesFailing",
	"MetaCNIPodAddErrors", "MetaCNIPoolNearlyFull", "MetaCNITokenRefreshFailing",
}

type alertRule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// ruleSpec renders the PrometheusRule with args, writes its spec (a
// Prometheus rule file) into a temp file, and returns the file and rules.
func ruleSpec(t *testing.T, args ...string) (string, []alertRule) {
	t.Helper()
	pr := find(t, render(t, append([]string{"--set", prometheusRuleOn}, args...)...), "PrometheusRule", "meta-cni")
	spec, _, _ := unstructured.NestedMap(pr.Object, "spec")
	data, err := yaml.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Groups []struct {
			Name  string      `json:"name"`
			Rules []alertRule `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.UnmarshalStrict(data, &parsed); err != nil {
		t.Fatalf("PrometheusRule spec: %v\n%s", err, data)
	}
	var rules []alertRule
	for _, g := range parsed.Groups {
		rules = append(rules, g.Rules...)
	}
	return file, rules
}

func TestPrometheusRuleAlertsParseAndNameOnlyExportedSeries(t *testing.T) {
	file, rules := ruleSpec(t)
	exprs, err := testenv.Promcheck("-rules", file)
	if err != nil {
		t.Fatalf("Prometheus refuses the chart's rules: %v", err)
	}
	if len(exprs) != len(rules) {
		t.Fatalf("promcheck found %d expressions in %d rules", len(exprs), len(rules))
	}
	requireExportedSeries(t, exprs)
	var names []string
	for _, r := range rules {
		names = append(names, r.Alert)
		if r.Labels["severity"] == "" || r.For == "" {
			t.Errorf("alert %s: severity %q, for %q; want both", r.Alert, r.Labels["severity"], r.For)
		}
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("alert %s has no %s annotation", r.Alert, a)
			}
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, wantAlerts) {
		t.Errorf("alerts %v, want %v", names, wantAlerts)
	}
}

func TestPrometheusRuleRunbookURLsNameSectionsOfTheREADMEMonitoring(t *testing.T) {
	_, rules := ruleSpec(t)
	anchors := readmeAnchors(t, "Monitoring")
	readme := readmeSection(t, "Monitoring")
	for _, r := range rules {
		base, anchor, _ := strings.Cut(r.Annotations["runbook_url"], "#")
		if base != "https://github.com/meta-cni/meta-cni/blob/main/README.md" {
			t.Errorf("alert %s runbook_url %q is not the README", r.Alert, r.Annotations["runbook_url"])
		}
		if anchor != strings.ToLower(r.Alert) || !anchors[anchor] {
			t.Errorf("alert %s runbook_url anchor %q: want %q, a heading of the README's Monitoring section (%v)", r.Alert, anchor, strings.ToLower(r.Alert), anchors)
		}
		if !strings.Contains(readme, "| [`"+r.Alert+"`](#"+anchor+") |") {
			t.Errorf("alert %s has no row in the README's alerts table", r.Alert)
		}
	}
}

func TestPrometheusRuleTakesThresholdsAndLabelsFromValues(t *testing.T) {
	file, rules := ruleSpec(t, "--set", "metrics.prometheusRule.poolUsage.threshold=0.75",
		"--set", "metrics.prometheusRule.addErrors.ratio=0.2", "--set", "metrics.prometheusRule.addErrors.minErrors=7",
		"--set", "metrics.prometheusRule.addErrors.for=3m", "--set", "metrics.prometheusRule.addErrors.severity=page",
		"--set", "metrics.prometheusRule.alertLabels.team=platform",
		"--set", "metrics.prometheusRule.runbookBaseURL=https://wiki.example/meta-cni")
	if _, err := testenv.Promcheck("-rules", file); err != nil {
		t.Fatalf("Prometheus refuses the rules with other thresholds: %v", err)
	}
	byName := map[string]alertRule{}
	for _, r := range rules {
		byName[r.Alert] = r
		if r.Labels["team"] != "platform" || !strings.HasPrefix(r.Annotations["runbook_url"], "https://wiki.example/meta-cni#") {
			t.Errorf("alert %s labels %v runbook_url %q: want team=platform and the wiki's URL", r.Alert, r.Labels, r.Annotations["runbook_url"])
		}
	}
	pool, add := byName["MetaCNIPoolNearlyFull"], byName["MetaCNIPodAddErrors"]
	if !regexp.MustCompile(`\)\s*>\s*0\.75$`).MatchString(pool.Expr) {
		t.Errorf("pool alert %q does not compare with 0.75", pool.Expr)
	}
	if !regexp.MustCompile(`\)\s*>\s*0\.2\s+and\s`).MatchString(add.Expr) || !regexp.MustCompile(`>=\s*7$`).MatchString(add.Expr) ||
		add.For != "3m" || add.Labels["severity"] != "page" {
		t.Errorf("ADD alert %+v: want ratio 0.2, at least 7 errors, for 3m, severity page", add)
	}
}

// readmeSection is the text of the README's "## title" section.
func readmeSection(t *testing.T, title string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "\n## "+title+"\n")
	if !ok {
		t.Fatalf("README has no %q section", title)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// readmeAnchors are the anchors GitHub gives the headings of a README
// section: lower case, spaces as hyphens, other punctuation dropped.
func readmeAnchors(t *testing.T, title string) map[string]bool {
	t.Helper()
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	anchors := map[string]bool{}
	for _, line := range strings.Split(readmeSection(t, title), "\n") {
		if h, ok := strings.CutPrefix(line, "#"); ok {
			h = strings.TrimSpace(strings.TrimLeft(h, "#"))
			anchors[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")] = true
		}
	}
	return anchors
}

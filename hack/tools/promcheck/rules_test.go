package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRuleFileExpressionsReturnsEachRule(t *testing.T) {
	file := writeFile(t, "rules.yaml", `groups:
- name: g
  rules:
  - alert: A
    expr: rate(x_total[5m]) > 0
    for: 5m
    annotations:
      summary: "{{ $labels.node }} at {{ $value | humanizePercentage }}"
  - record: job:y:sum
    expr: sum by (job) (y)
`)
	got, errs := RuleFileExpressions(file)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(got) != 2 || got[0].Location != `group "g" alert "A"` || !reflect.DeepEqual(got[0].Metrics, []string{"x_total"}) ||
		got[1].Location != `group "g" record "job:y:sum"` || !reflect.DeepEqual(got[1].Metrics, []string{"y"}) {
		t.Errorf("expressions %+v", got)
	}
}

func TestRuleFileExpressionsRefusesAnInvalidRuleFile(t *testing.T) {
	for name, tc := range map[string]struct{ content, want string }{
		"bad expression":   {"groups:\n- name: g\n  rules:\n  - alert: A\n    expr: rate(x)\n", "could not parse expression"},
		"unknown field":    {"groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x\n    severity: page\n", "severity"},
		"bad template":     {"groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x\n    annotations:\n      summary: '{{ $labels.node '\n", "annotation"},
		"alert and record": {"groups:\n- name: g\n  rules:\n  - alert: A\n    record: b\n    expr: x\n", "only one of"},
		"repeated group":   {"groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n", "repeated"},
	} {
		_, errs := RuleFileExpressions(writeFile(t, "rules.yaml", tc.content))
		if len(errs) == 0 || !strings.Contains(errs[0].Error(), tc.want) {
			t.Errorf("%s: errors %v, want one containing %q", name, errs, tc.want)
		}
	}
}

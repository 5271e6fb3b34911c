package conformance_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// difference is one aspect of a scenario where meta-cni and a Multus
// release behaved differently.
type difference struct {
	scenario, aspect, multus string
	detail                   string
}

func (d difference) key() string { return d.scenario + " " + d.aspect + " " + d.multus }

// compare lists the aspects where meta-cni's observation differs from
// Multus's.
func compare(scenario, multus string, m, meta *observation) []difference {
	var out []difference
	check := func(aspect string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			out = append(out, difference{scenario: scenario, aspect: aspect, multus: multus,
				detail: fmt.Sprintf("Multus %s: %s\nmeta-cni: %s", multus, render(a), render(b))})
		}
	}
	check("add", m.Add, meta.Add)
	check("add.netns", m.AddNetns, meta.AddNetns)
	check("add.status", m.Status, meta.Status)
	check("add.events", m.Events, meta.Events)
	check("add.rules", m.Rules, meta.Rules)
	for _, verb := range sortedKeys(m.Verbs, meta.Verbs) {
		check(strings.ToLower(verb), m.Verbs[verb], meta.Verbs[verb])
	}
	check("del", m.Del, meta.Del)
	check("del.netns", m.DelNetns, meta.DelNetns)
	check("del.node", m.Left, meta.Left)
	return out
}

func render(v any) string {
	switch v := v.(type) {
	case map[string][]string:
		var b strings.Builder
		for _, k := range sortedKeys(v, nil) {
			fmt.Fprintf(&b, "\n  %s:", k)
			for _, line := range v[k] {
				fmt.Fprintf(&b, "\n    %s", line)
			}
		}
		return b.String()
	case map[string]string:
		var b strings.Builder
		for _, k := range sortedKeys(v, nil) {
			fmt.Fprintf(&b, "\n  %s: %s", k, v[k])
		}
		return b.String()
	case []string:
		return "\n  " + strings.Join(v, "\n  ")
	}
	return fmt.Sprint(v)
}

func sortedKeys[V any](a, b map[string]V) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]V{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// compatDoc is where every declared difference is listed, one table row
// each, between the markers.
const compatDoc = "docs/multus-compat.md"

var declaredRow = regexp.MustCompile("^\\|\\s*`([^`]+)`\\s*\\|\\s*`([^`]+)`\\s*\\|\\s*([^|]+?)\\s*\\|")

// declaredDifferences reads the table of docs/multus-compat.md: each row
// names a scenario, an aspect and the Multus releases ("all" or a comma
// list) it differs from.
func declaredDifferences() (map[string]bool, error) {
	f, err := os.Open(filepath.Join(testenv.RepoRoot(), compatDoc))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]bool{}
	inside := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "<!-- conformance:declared -->":
			inside = true
			continue
		case line == "<!-- /conformance:declared -->":
			inside = false
			continue
		}
		if !inside {
			continue
		}
		m := declaredRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		versions := []string{}
		if m[3] == "all" {
			for _, v := range testenv.MultusVersions {
				versions = append(versions, v.Version)
			}
		} else {
			for _, v := range strings.Split(m[3], ",") {
				versions = append(versions, strings.TrimSpace(v))
			}
		}
		for _, v := range versions {
			d := difference{scenario: m[1], aspect: m[2], multus: "multus-" + v}
			if out[d.key()] {
				return nil, fmt.Errorf("%s declares %q twice", compatDoc, d.key())
			}
			out[d.key()] = true
		}
	}
	return out, sc.Err()
}

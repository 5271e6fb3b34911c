package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// dashboard is the part of Grafana's dashboard model that holds queries.
type dashboard struct {
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title   string   `json:"title"`
	Type    string   `json:"type"`
	Panels  []panel  `json:"panels"` // a collapsed row's panels
	Targets []target `json:"targets"`
}

type target struct {
	RefID string `json:"refId"`
	Expr  string `json:"expr"`
}

type variable struct {
	Name  string          `json:"name"`
	Type  string          `json:"type"`
	Query json.RawMessage `json:"query"`
}

// labelValues matches Grafana's label_values(expr, label) variable query;
// its first argument is PromQL.
var labelValues = regexp.MustCompile(`^\s*label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)

// DashboardExpressions returns every panel target's expression and every
// query variable's selector in a Grafana dashboard JSON file. A target with
// no expression is an error: a panel that queries nothing shows nothing.
func DashboardExpressions(file string) ([]Expression, []error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, []error{err}
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, []error{fmt.Errorf("%s: decode dashboard: %w", file, err)}
	}
	var out []Expression
	var errs []error
	add := func(location, expr string) {
		e, err := expression(file, location, expr)
		if err != nil {
			errs = append(errs, err)
			return
		}
		out = append(out, e)
	}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, t := range p.Targets {
				location := fmt.Sprintf("panel %q target %s", p.Title, t.RefID)
				if strings.TrimSpace(t.Expr) == "" {
					errs = append(errs, fmt.Errorf("%s: %s: no expr", file, location))
					continue
				}
				add(location, t.Expr)
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q := variableQuery(v.Query)
		if m := labelValues.FindStringSubmatch(q); m != nil {
			add(fmt.Sprintf("variable %q", v.Name), m[1])
		}
	}
	return out, errs
}

// variableQuery reads a variable's query, which Grafana stores as a string
// or, in newer dashboards, as an object with a "query" field.
func variableQuery(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(raw, &o)
	return o.Query
}

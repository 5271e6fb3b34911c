package main

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
)

// RuleFileExpressions validates a rule file as Prometheus loads one (unknown
// fields are errors; names must be valid under the classic rules, which
// every Prometheus version accepts) and returns each rule's expression.
func RuleFileExpressions(file string) ([]Expression, []error) {
	groups, errs := rulefmt.ParseFile(file, false, model.LegacyValidation, promql, slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		return nil, errs
	}
	var out []Expression
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			location := fmt.Sprintf("group %q alert %q", g.Name, r.Alert)
			if r.Record != "" {
				location = fmt.Sprintf("group %q record %q", g.Name, r.Record)
			}
			e, err := expression(file, location, r.Expr)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, e)
		}
	}
	return out, errs
}

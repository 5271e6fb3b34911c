package soak

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Result is what one scenario measured on one implementation; a run
// writes one JSON file of them per implementation, and Tables turns the
// files of one run into docs/reliability.md's tables.
type Result struct {
	Scenario       string         `json:"scenario"` // "churn/exact", "full-pool", ...
	Implementation string         `json:"implementation"`
	Machine        string         `json:"machine"`
	Date           string         `json:"date"` // RFC 3339, UTC
	Scale          string         `json:"scale"`
	Nodes          int            `json:"nodes"`
	Pods           int            `json:"pods"` // per round
	Rounds         int            `json:"rounds"`
	PoolSize       int            `json:"poolSize"` // addresses the network hands out
	Adds           int            `json:"adds"`
	Dels           int            `json:"dels"`
	Errors         map[string]int `json:"errors"`   // CNI code -> count, over ADD and DEL
	Retries        int            `json:"retries"`  // new sandboxes after a failed ADD
	Messages       map[string]int `json:"messages"` // error message (names and numbers taken out) -> count
	AddsOK         int            `json:"addsOK"`   // ADDs that succeeded
	AddsPerSecond  float64        `json:"addsPerSecond"`
	AddP50Ms       float64        `json:"addP50Ms"`
	AddP95Ms       float64        `json:"addP95Ms"`
	DelP50Ms       float64        `json:"delP50Ms"`
	// PodNetworkP50Ms and P95 are from a pod's first ADD to the one that
	// gave it its network, the kubelet's back-offs included.
	PodNetworkP50Ms float64 `json:"podNetworkP50Ms"`
	PodNetworkP95Ms float64 `json:"podNetworkP95Ms"`
	Duplicates      int     `json:"duplicates"`
	Leaks           int     `json:"leaks"`
	ConvergeMs      float64 `json:"convergeMs"` // the slowest round
	AgentPeakRSSMB  float64 `json:"agentPeakRSSMB"`
	// PaceMs is, when pods arrived one at a time, the time between two
	// arrivals across the cluster; 0 when a phase's pods came at once.
	PaceMs float64 `json:"paceMs,omitempty"`
	// DeadSandboxes is, after a node's reboot, how the addresses of the
	// sandboxes it killed were freed: "gc" (by the runtime's CNI GC),
	// "takenOver" (handed to the pod's new sandbox before any DEL or GC),
	// "left" (still held after the GC).
	DeadSandboxes map[string]int `json:"deadSandboxes,omitempty"`
	// Kinds is, for a scenario of bad inputs, how each kind was answered.
	Kinds []KindResult `json:"kinds,omitempty"`
	// Fault scenarios (2 and 3) only: what happened while the fault
	// lasted. ADDs and DELs by code count "ok" for a success.
	FaultMs        float64        `json:"faultMs,omitempty"`
	FaultAdds      map[string]int `json:"faultAdds,omitempty"`
	FaultDels      map[string]int `json:"faultDels,omitempty"`
	FaultFailP50Ms float64        `json:"faultFailP50Ms,omitempty"` // of the ADDs that failed during it
	FaultFailP95Ms float64        `json:"faultFailP95Ms,omitempty"`
	// FailedForMs is from the fault to the first ADD started after it that
	// succeeded; -1 when none did.
	FailedForMs float64 `json:"failedForMs,omitempty"`
	// NotApplicable says why the implementation has no figures for the
	// scenario (the fault does not touch it), in place of its column.
	NotApplicable string `json:"notApplicable,omitempty"`
	// The crash scenario's: the binary or agent killed, how many kills
	// landed, the codes its killed ADDs got, and how many leftovers
	// (allocations, links, routes, tables, records) the kills left, then
	// what remained after each step that reclaims: the runtime's DEL, CNI
	// GC, and waiting for convergence (the agents).
	Killed            string         `json:"killed,omitempty"`
	Kills             int            `json:"kills,omitempty"`
	KilledAddErrors   map[string]int `json:"killedAddErrors,omitempty"`
	LeftAfterKill     int            `json:"leftAfterKill,omitempty"`
	LeftAfterDel      int            `json:"leftAfterDel,omitempty"`
	LeftAfterGC       int            `json:"leftAfterGC,omitempty"`
	LeftAfterConverge int            `json:"leftAfterConverge,omitempty"`
	GCNote            string         `json:"gcNote,omitempty"`
	// Kills whose sandbox the runtime never DELs (it restarted and lost
	// it): what they left, and what remained after CNI GC.
	NoDelKills   int `json:"noDelKills,omitempty"`
	NoDelLeft    int `json:"noDelLeft,omitempty"`
	NoDelAfterGC int `json:"noDelAfterGC,omitempty"`
}

// WriteResults stores a run's results for one implementation in dir,
// replacing those of the same scenarios and keeping the others, so
// scenarios run one at a time still make one run's tables.
func WriteResults(dir, implementation string, rs []Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, implementation+".json")
	var merged []Result
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &merged); err != nil {
			return fmt.Errorf("results %s: %w", path, err)
		}
	}
	for _, r := range rs {
		i := slices.IndexFunc(merged, func(m Result) bool { return m.Scenario == r.Scenario })
		if i >= 0 {
			merged[i] = r
		} else {
			merged = append(merged, r)
		}
	}
	b, err := json.MarshalIndent(merged, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadResults reads every implementation's results from dir.
func ReadResults(dir string) ([]Result, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var all []Result
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var rs []Result
		if err := json.Unmarshal(b, &rs); err != nil {
			return nil, fmt.Errorf("results %s: %w", f, err)
		}
		all = append(all, rs...)
	}
	return all, nil
}

// Reference is the column every table keeps for Multus + Whereabouts,
// empty until that implementation's results are in the run.
const Reference = "multus-whereabouts"

// Tables writes one Markdown table per scenario: a row per figure, a
// column per implementation (meta-cni first, the reference always
// present), under a line naming the machine, the date and the scale.
func Tables(w io.Writer, rs []Result) error {
	byScenario := map[string]map[string]Result{}
	impls := map[string]bool{"meta-cni": true, Reference: true}
	for _, r := range rs {
		if byScenario[r.Scenario] == nil {
			byScenario[r.Scenario] = map[string]Result{}
		}
		byScenario[r.Scenario][r.Implementation] = r
		impls[r.Implementation] = true
	}
	cols := []string{"meta-cni", Reference}
	for i := range impls {
		if i != "meta-cni" && i != Reference {
			cols = append(cols, i)
		}
	}
	sort.Strings(cols[2:])
	names := make([]string, 0, len(byScenario))
	for s := range byScenario {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		row := byScenario[s]
		var any Result
		for _, c := range cols {
			if r, ok := row[c]; ok {
				any = r
				break
			}
		}
		fmt.Fprintf(w, "### %s\n\n", s)
		arrival := ""
		if any.PaceMs > 0 {
			arrival = fmt.Sprintf(" (arriving one every %.0f ms across the cluster)", any.PaceMs)
		}
		fmt.Fprintf(w, "%s, %s, scale %s: %d nodes, %d pods per round%s, %d round(s), a pool of %d addresses.\n\n",
			any.Machine, any.Date, any.Scale, any.Nodes, any.Pods, arrival, any.Rounds, any.PoolSize)
		header := "| figure |"
		rule := "|---|"
		for _, c := range cols {
			header += " " + columnName(c) + " |"
			rule += "---|"
		}
		fmt.Fprintln(w, header)
		fmt.Fprintln(w, rule)
		printRow := func(name string, value func(Result) string) {
			line := "| " + name + " |"
			for _, c := range cols {
				r, ok := row[c]
				switch {
				case !ok:
					line += " next session |"
				case r.NotApplicable != "":
					line += " n/a |"
				default:
					line += " " + value(r) + " |"
				}
			}
			fmt.Fprintln(w, line)
		}
		for _, f := range figures {
			printRow(f.name, f.value)
		}
		for _, f := range scenarioFigures {
			if slices.ContainsFunc(cols, func(c string) bool { r, ok := row[c]; return ok && f.shown(r) }) {
				printRow(f.name, f.value)
			}
		}
		fmt.Fprintln(w)
		kindTables(w, row, cols)
		for _, c := range cols {
			if r, ok := row[c]; ok && r.NotApplicable != "" {
				fmt.Fprintf(w, "%s: n/a, %s\n\n", columnName(c), r.NotApplicable)
			}
		}
		for _, c := range cols {
			if r, ok := row[c]; ok && len(r.Messages) > 0 {
				fmt.Fprintf(w, "Why %s's calls failed (message with names and numbers as N; count):\n\n", columnName(c))
				for _, m := range topMessages(r.Messages, 5) {
					fmt.Fprintf(w, "- %d × `%s`\n", r.Messages[m], strings.ReplaceAll(m, "`", "'"))
				}
				fmt.Fprintln(w)
			}
		}
	}
	return nil
}

// topMessages is the n most frequent messages, most frequent first.
func topMessages(m map[string]int, n int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys[:min(n, len(keys))]
}

func columnName(impl string) string {
	if impl == Reference {
		return "Multus + Whereabouts"
	}
	return impl
}

// figures are the table's rows, in issue 10's order.
var figures = []struct {
	name  string
	value func(Result) string
}{
	{"pod ADDs / DELs", func(r Result) string { return fmt.Sprintf("%d / %d", r.Adds, r.Dels) }},
	{"errors by CNI code", func(r Result) string { return errorsByCode(r.Errors) }},
	{"kubelet retries (new sandboxes after a failed ADD)", func(r Result) string { return fmt.Sprint(r.Retries) }},
	{"duplicates", func(r Result) string { return fmt.Sprint(r.Duplicates) }},
	{"leaks", func(r Result) string { return fmt.Sprint(r.Leaks) }},
	{"ADDs/s", func(r Result) string { return fmt.Sprintf("%.1f", r.AddsPerSecond) }},
	{"ADD p50 / p95 (ms), of the ADDs that succeeded", func(r Result) string {
		if r.AddsOK == 0 {
			return "none succeeded"
		}
		return fmt.Sprintf("%.0f / %.0f", r.AddP50Ms, r.AddP95Ms)
	}},
	{"pod's wait for its network p50 / p95 (s), retries included", func(r Result) string {
		if r.AddsOK == 0 {
			return "none got one"
		}
		return fmt.Sprintf("%.1f / %.1f", r.PodNetworkP50Ms/1000, r.PodNetworkP95Ms/1000)
	}},
	{"DEL p50 (ms)", func(r Result) string { return fmt.Sprintf("%.0f", r.DelP50Ms) }},
	{"time to converge (s)", func(r Result) string { return fmt.Sprintf("%.1f", r.ConvergeMs/1000) }},
	{"node agent peak RSS (MiB)", func(r Result) string {
		if r.AgentPeakRSSMB == 0 {
			return "no agent"
		}
		return fmt.Sprintf("%.0f", r.AgentPeakRSSMB)
	}},
}

// scenarioFigures are rows only some scenarios measure, after figures in
// the tables where a column has them.
var scenarioFigures = []struct {
	name  string
	value func(Result) string
	shown func(Result) bool
}{
	{"dead sandboxes' addresses: freed by GC / taken over by the pod's new sandbox / left", func(r Result) string {
		if r.DeadSandboxes == nil {
			return "not measured"
		}
		d := r.DeadSandboxes
		return fmt.Sprintf("%d / %d / %d", d["gc"], d["takenOver"], d["left"])
	}, func(r Result) bool { return r.DeadSandboxes != nil }},
	{"fault lasted (s)", func(r Result) string { return fmt.Sprintf("%.1f", r.FaultMs/1000) }, faulted},
	{"ADDs ended during the fault, by code", func(r Result) string { return byCodeOrNone(r.FaultAdds) }, faulted},
	{"failed ADDs during the fault, p50 / p95 (ms)", func(r Result) string {
		if r.FaultAdds == nil || r.FaultAdds["ok"] == sum(r.FaultAdds) {
			return "none failed"
		}
		return fmt.Sprintf("%.0f / %.0f", r.FaultFailP50Ms, r.FaultFailP95Ms)
	}, faulted},
	{"from the fault to the first ADD started after it that succeeded (s)", func(r Result) string {
		if r.FailedForMs < 0 {
			return "none succeeded"
		}
		return fmt.Sprintf("%.1f", r.FailedForMs/1000)
	}, faulted},
	{"DELs during the fault, by code", func(r Result) string { return byCodeOrNone(r.FaultDels) }, faulted},
	{"killed with kill -9 at a random point of ADD", func(r Result) string {
		return fmt.Sprintf("%s, %d times", r.Killed, r.Kills)
	}, crashed},
	{"the killed ADDs' errors by CNI code", func(r Result) string {
		return errorsByCode(r.KilledAddErrors)
	}, crashed},
	{"leftovers of the killed ADDs: before the runtime's DEL / after it / after CNI GC / after convergence", func(r Result) string {
		gc := fmt.Sprint(r.LeftAfterGC)
		if r.GCNote != "" {
			gc += " (" + r.GCNote + ")"
		}
		return fmt.Sprintf("%d / %d / %s / %d", r.LeftAfterKill, r.LeftAfterDel, gc, r.LeftAfterConverge)
	}, crashed},
	{"kills whose sandbox never got the runtime's DEL: kills / leftovers / after CNI GC", func(r Result) string {
		return fmt.Sprintf("%d / %d / %d", r.NoDelKills, r.NoDelLeft, r.NoDelAfterGC)
	}, crashedWithoutDel},
}

// crashed: the rows of scenario 4, what the kills left and what
// reclaimed it; crashedWithoutDel, those of the kills no DEL followed
// (none for the agent, whose kills lose no sandbox).
func crashed(r Result) bool           { return r.Killed != "" }
func crashedWithoutDel(r Result) bool { return r.Killed != "" && r.Scenario != "crash/agent" }

// faulted: the rows of scenarios 2 and 3, what happened while the fault
// lasted.
func faulted(r Result) bool { return r.FaultAdds != nil || r.FaultDels != nil }

func byCodeOrNone(m map[string]int) string {
	if m == nil {
		return "none ran"
	}
	return errorsByCode(m)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func errorsByCode(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	codes := make([]string, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%s: %d", c, m[c])
	}
	return strings.Join(parts, ", ")
}

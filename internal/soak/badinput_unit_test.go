package soak

import (
	"encoding/json"
	"strings"
	"testing"
)

// Every kind issue 10 names is in the mix, each variant with a code.
func TestBadInputsCoverEveryKindOfTheIssue(t *testing.T) {
	kinds := map[string]int{}
	for _, bc := range badInputs("macvlan") {
		kinds[bc.kind]++
		if bc.want == "" || bc.name == "" {
			t.Errorf("variant %+v has no name or code", bc)
		}
		if bc.networks == "" && bc.call == nil && bc.defaultNetwork == "" {
			t.Errorf("variant %q sends nothing bad", bc.name)
		}
	}
	for _, k := range []string{"malformed annotation", "missing NAD", "NAD with invalid JSON", "NAD naming a missing plugin",
		"host-route without prevResult", "oversized", "path-like name"} {
		if kinds[k] == 0 {
			t.Errorf("no variant of kind %q", k)
		}
	}
}

// The host-route-first NAD is the good conflist with its two plugins
// swapped, still valid JSON.
func TestHostRouteFirstPutsHostRouteBeforeMacvlan(t *testing.T) {
	for _, good := range []string{
		`{"cniVersion": "1.0.0", "name": "macvlan", "plugins": [{"type": "macvlan", "master": "eth0"},
  {"type": "host-route", "hostInterface": "eth0"}]}`,
		`{"cniVersion":"1.0.0","name":"macvlan","plugins":[{"type":"macvlan"},{"type":"host-route"}]}`,
	} {
		checkHostRouteFirst(t, hostRouteFirst(good))
	}
}

func checkHostRouteFirst(t *testing.T, got string) {
	t.Helper()
	var list struct {
		Plugins []struct{ Type string } `json:"plugins"`
	}
	if err := json.Unmarshal([]byte(got), &list); err != nil {
		t.Fatalf("%v in %s", err, got)
	}
	if len(list.Plugins) != 2 || list.Plugins[0].Type != "host-route" || list.Plugins[1].Type != "macvlan" {
		t.Errorf("plugins %+v, want host-route then macvlan", list.Plugins)
	}
}

func TestPanickedSeesGoPanicsAndGoroutineDumps(t *testing.T) {
	for text, want := range map[string]bool{
		"panic: runtime error: index out of range [3] with length 3": true,
		"goroutine 1 [running]:":                                     true,
		"fatal error: concurrent map writes":                         true,
		`{"level":"ERROR","msg":"ADD failed","err":"x"}`:             false,
		"": false,
	} {
		if got := panicked(text); got != want {
			t.Errorf("panicked(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestMessageLacksIgnoresCaseSpacesAndUnderscores(t *testing.T) {
	msg := "pod ns/a: invalid characters in containerID ../x"
	if got := messageLacks(msg, []string{"pod ns/a", "container ID", "CONTAINER_ID"}); len(got) != 0 {
		t.Errorf("lacks %v", got)
	}
	if got := messageLacks(msg, []string{"network"}); len(got) != 1 || !strings.Contains(got[0], "network") {
		t.Errorf("lacks %v, want [network]", got)
	}
}

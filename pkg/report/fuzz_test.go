package report

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"testing"
)

// FuzzDecode: whatever reaches the daemon's socket, an accepted run has a
// known verb, a code below 1000 and a duration in range, so the plugin
// series keep a bounded set of labels, and it reads back unchanged from
// what Send writes.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"verb":"ADD","seconds":0.012,"code":0}`, `{"verb":"DEL","seconds":1,"code":11}`,
		`{"verb":"ADD","seconds":-1}`, `{"verb":"add","seconds":1}`, `{"verb":"ADD","seconds":1e309}`,
		`{"verb":"ADD","seconds":1,"code":1000}`, `{"verb":"ADD","seconds":1,"extra":1}`, `{"verb":"ADD","Verb":"X"}`,
		`{"verb":"GC"} {"verb":"nope"}`, `null`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		run, err := Decode(bytes.NewReader(body))
		if err != nil {
			if run != (Run{}) {
				t.Fatalf("Decode(%q) = %+v with error %v", body, run, err)
			}
			return
		}
		if !slices.Contains(Verbs, run.Verb) || run.Code > 999 || math.IsNaN(run.Seconds) || run.Seconds < 0 || run.Seconds > maxSeconds {
			t.Fatalf("Decode(%q) accepted %+v", body, run)
		}
		sent, err := json.Marshal(run)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Decode(bytes.NewReader(sent))
		if err != nil || again != run {
			t.Fatalf("%s reads back as %+v, %v; want %+v", sent, again, err, run)
		}
	})
}

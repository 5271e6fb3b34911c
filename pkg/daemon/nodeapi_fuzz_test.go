package daemon

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

const mergePatch = "application/merge-patch+json"

// patchSeeds are the plugin's own patch and the tricks a caller on the
// node could try to widen it.
var patchSeeds = []string{
	`{"metadata":{"uid":"u1","annotations":{"k8s.v1.cni.cncf.io/network-status":"[{\"name\":\"cbr0\",\"ips\":[\"10.0.0.2\"],\"default\":true}]"}}}`,
	`{"metadata":{"uid":"u1","annotations":{"k8s.v1.cni.cncf.io/network-status":"[]"}}}`,
	`{"metadata":{"uid":"u1","annotations":{"k8s.v1.cni.cncf.io/network-status":"null"}}}`,
	`{"metadata":{"uid":"u1","annotations":{"k8s.v1.cni.cncf.io/network-status":"{}"}}}`,
	`{"metadata":{"uid":"u1","uid":"u2","annotations":{"k8s.v1.cni.cncf.io/network-status":"[]"}}}`,
	`{"metadata":{"uid":"u1","annotations":{"k8s.v1.cni.cncf.io/network-status":"[]","other":"x"}}}`,
	`{"metadata":{"uid":"u1","labels":{"a":"b"},"annotations":{"k8s.v1.cni.cncf.io/network-status":"[]"}}}`,
	`{"metadata":{"UID":"u1","annotations":{"k8s.v1.cni.cncf.io/network-status":"[]"}}}`,
	`{"spec":{"nodeName":"x"},"metadata":{"uid":"u1","annotations":{"k8s.v1.cni.cncf.io/network-status":"[]"}}}`,
	`{"metadata":{"uid":"","annotations":{"k8s.v1.cni.cncf.io/network-status":"[]"}}}`,
	`{"metadata":{"uid":1,"annotations":{"k8s.v1.cni.cncf.io/network-status":[]}}}`,
	`[]`,
	`null`,
}

// FuzzParseStatusPatch: whatever the node sends, an accepted patch is the
// one shape the node API lends out, and the body the daemon sends upstream
// parses back to exactly what was accepted.
func FuzzParseStatusPatch(f *testing.F) {
	for _, s := range patchSeeds {
		f.Add(mergePatch, []byte(s))
	}
	f.Add("application/merge-patch+json; charset=utf-8", []byte(patchSeeds[0]))
	f.Add("application/json-patch+json", []byte(patchSeeds[0]))
	f.Add("application/strategic-merge-patch+json", []byte(patchSeeds[0]))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		sp, err := parseStatusPatch(contentType, body)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		checkStatusPatch(t, sp)
	})
}

// checkStatusPatch holds an accepted patch to the node API's rules.
func checkStatusPatch(t *testing.T, sp statusPatch) {
	t.Helper()
	if sp.UID == "" {
		t.Fatal("accepted a patch without a UID")
	}
	var list []json.RawMessage
	if err := json.Unmarshal([]byte(sp.Value), &list); err != nil || list == nil {
		t.Fatalf("accepted network-status %q, which is not a JSON list", sp.Value)
	}
	body := sp.body()
	var shape struct {
		Metadata struct {
			UID         string            `json:"uid"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(body, &shape); err != nil {
		t.Fatalf("upstream body %s: %v", body, err)
	}
	var top map[string]map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || len(top) != 1 || len(top["metadata"]) != 2 {
		t.Fatalf("upstream body %s has more than metadata.uid and metadata.annotations", body)
	}
	if shape.Metadata.UID != sp.UID || len(shape.Metadata.Annotations) != 1 || shape.Metadata.Annotations[networkStatusKey] != sp.Value {
		t.Fatalf("upstream body %s is not the accepted patch %+v", body, sp)
	}
	again, err := parseStatusPatch(mergePatch, body)
	if err != nil || again != sp {
		t.Fatalf("upstream body %s parses as %+v, %v; want %+v", body, again, err, sp)
	}
}

// FuzzJournalEntry: a journal file the daemon replays after a restart is
// held to the same rules as a patch taken over the socket, so an entry it
// did not write itself cannot reach the API server with another shape or
// another path.
func FuzzJournalEntry(f *testing.F) {
	patch := patchSeeds[0]
	for _, e := range []pendingStatus{
		{Namespace: "default", Name: "web", UID: "u1", Patch: json.RawMessage(patch)},
		{Namespace: "default", Name: "web", UID: "u2", Patch: json.RawMessage(patch)},
		{Namespace: "default", Name: "../../nodes/n1", UID: "u1", Patch: json.RawMessage(patch)},
		{Namespace: "kube-system/pods/x/..", Name: "web", UID: "u1", Patch: json.RawMessage(patch)},
		{Namespace: "Default", Name: "web", UID: "u1", Patch: json.RawMessage(patch)},
		{Namespace: "default", Name: "web", UID: "u1", Patch: json.RawMessage(patchSeeds[6])},
	} {
		data, err := json.Marshal(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"namespace":"default","name":"web","uid":"u1","patch":"not an object","since":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"namespace":"default","name":"web","uid":"u1","since":"yesterday"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := &pendingStatus{}
		if json.Unmarshal(data, p) != nil {
			return // replay removes it unread
		}
		if err := p.revalidate(); err != nil {
			return
		}
		if errs := validation.IsDNS1123Label(p.Namespace); len(errs) > 0 {
			t.Fatalf("replayed an entry for namespace %q: %v", p.Namespace, errs)
		}
		if errs := validation.IsDNS1123Subdomain(p.Name); len(errs) > 0 {
			t.Fatalf("replayed an entry for pod name %q: %v", p.Name, errs)
		}
		if strings.ContainsAny(p.journalName(), "/\x00") {
			t.Fatalf("journal file name %q leaves the journal dir", p.journalName())
		}
		sp, err := parseStatusPatch(mergePatch, p.Patch)
		if err != nil {
			t.Fatalf("replayed patch %s does not parse: %v", p.Patch, err)
		}
		if sp.UID != p.UID {
			t.Fatalf("replayed patch names UID %q, the entry %q", sp.UID, p.UID)
		}
		checkStatusPatch(t, sp)
	})
}

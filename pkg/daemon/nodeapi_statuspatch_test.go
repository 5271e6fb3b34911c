package daemon

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// "null" unmarshals into a nil list without error; the node API lends out
// the network-status annotation only as a JSON list (found by
// FuzzParseStatusPatch).
func TestParseStatusPatchRefusesANetworkStatusThatIsNotAList(t *testing.T) {
	for _, value := range []string{"null", "{}", `"[]"`, "1", ""} {
		body := fmt.Sprintf(`{"metadata":{"uid":"u1","annotations":{%q:%q}}}`, networkStatusKey, value)
		if sp, err := parseStatusPatch(mergePatch, []byte(body)); err == nil || !strings.Contains(err.Error(), "JSON list") {
			t.Errorf("network-status %q: %+v, %v; want refused as not a JSON list", value, sp, err)
		}
	}
	if _, err := parseStatusPatch(mergePatch, []byte(fmt.Sprintf(`{"metadata":{"uid":"u1","annotations":{%q:"[]"}}}`, networkStatusKey))); err != nil {
		t.Errorf("an empty list: %v", err)
	}
}

// A journal entry is replayed only when it names a pod the node API's
// routes would have taken and sits in that pod's own journal file: its
// namespace and name go into the upstream URL (found by FuzzJournalEntry).
func TestJournalReplayDropsEntriesWithUnsafeNamesOrInAnotherPodsFile(t *testing.T) {
	up := &fakeUpstream{codes: []int{http.StatusOK}}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	journal := filepath.Join(t.TempDir(), "network-status")
	patch := json.RawMessage(fmt.Sprintf(`{"metadata":{"uid":%q,"annotations":{%q:"[]"}}}`, fakePodUID, networkStatusKey))
	for _, p := range []pendingStatus{
		{Namespace: "default", Name: "..", UID: fakePodUID, Patch: patch, Since: time.Now()},
		{Namespace: "Default", Name: "web", UID: fakePodUID, Patch: patch, Since: time.Now()},
		{Namespace: "default", Name: "web?dryRun=All", UID: fakePodUID, Patch: patch, Since: time.Now()},
	} {
		writeJournalEntry(t, journal, p)
	}
	data, err := json.Marshal(pendingStatus{Namespace: "default", Name: "db", UID: fakePodUID, Patch: patch, Since: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(journal, "default_web.json"), string(data), 0o600)

	a := serveNAPIOn(t, &rest.Config{Host: srv.URL}, napiNode, journal)
	a.waitSettled(t, 10*time.Second)
	if files := a.journalFiles(t); len(files) != 0 {
		t.Errorf("journal = %v, want every entry removed", files)
	}
	a.close()
	if patches, events := up.state(); patches != 0 || len(events) != 0 {
		t.Errorf("upstream got %d patches and events %+v, want none", patches, events)
	}
}

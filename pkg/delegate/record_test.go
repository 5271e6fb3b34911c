package delegate

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func sampleRecord(id string) *Record {
	return &Record{
		ContainerID:  id,
		NetNS:        "/var/run/netns/" + id,
		IfName:       "eth0",
		CNIVersion:   "1.0.0",
		PodNamespace: "ns1",
		PodName:      "pod-" + id,
		PodUID:       "uid-" + id,
		Args:         [][2]string{{"K8S_POD_NAMESPACE", "ns1"}, {"K8S_POD_NAME", "pod-" + id}},
		Delegates: []Delegate{
			{Network: "file:/etc/cni/net.d/10-cluster.conflist", Name: "cluster", IfName: "eth0", Cluster: true,
				ConfList: json.RawMessage(`{"cniVersion":"1.0.0","name":"cluster","plugins":[{"type":"ptp"}]}`)},
			{Network: "ns1/net-a", Name: "net-a", IfName: "net1",
				ConfList:       json.RawMessage(`{"cniVersion":"1.0.0","name":"net-a","plugins":[{"type":"macvlan"}]}`),
				CapabilityArgs: map[string]any{"mac": "02:00:00:00:00:01", "ips": []any{"10.0.0.5/24"}},
				Gateways:       []net.IP{net.ParseIP("10.0.0.1")}},
		},
	}
}

// names lists a directory's entries, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func TestRecordStoreWriteThenReadReturnsTheSameRecord(t *testing.T) {
	s := RecordStore{Dir: filepath.Join(t.TempDir(), "attachments")}
	want := sampleRecord("c1")
	if err := s.Write(want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Read("c1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Read =\n%+v\nwant\n%+v", got, want)
	}
}

func TestRecordStoreWriteReplacesTheRecord(t *testing.T) {
	s := RecordStore{Dir: t.TempDir()}
	first := sampleRecord("c1")
	if err := s.Write(first); err != nil {
		t.Fatal(err)
	}
	second := sampleRecord("c1")
	second.Delegates = second.Delegates[:1]
	if err := s.Write(second); err != nil {
		t.Fatal(err)
	}
	got, err := s.Read("c1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Delegates) != 1 {
		t.Fatalf("Read after rewrite has %d delegates, want 1", len(got.Delegates))
	}
}

func TestRecordStoreWriteLeavesOnlyAPrivateRecordFile(t *testing.T) {
	s := RecordStore{Dir: filepath.Join(t.TempDir(), "cache", "attachments")}
	for range 3 {
		if err := s.Write(sampleRecord("c1")); err != nil {
			t.Fatal(err)
		}
	}
	if got := names(t, s.Dir); !reflect.DeepEqual(got, []string{"c1.json"}) {
		t.Fatalf("store holds %v, want only c1.json (no temp files)", got)
	}
	fi, err := os.Stat(filepath.Join(s.Dir, "c1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Fatalf("record mode = %o, want 600", mode)
	}
	di, err := os.Stat(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if mode := di.Mode().Perm(); mode != 0o700 {
		t.Fatalf("store directory mode = %o, want 700", mode)
	}
}

// MkdirAll keeps the mode of a dir that is already there; a world-writable
// one would let anyone replace the records DEL replays.
func TestRecordStoreWriteMakesAnExistingWorldWritableDirPrivate(t *testing.T) {
	s := RecordStore{Dir: filepath.Join(t.TempDir(), "attachments")}
	if err := os.Mkdir(s.Dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(s.Dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(sampleRecord("c1")); err != nil {
		t.Fatal(err)
	}
	di, err := os.Stat(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if mode := di.Mode().Perm(); mode != 0o700 {
		t.Fatalf("store directory mode = %o, want 700", mode)
	}
}

func TestRecordStoreReadOfMissingRecordWrapsErrNotExist(t *testing.T) {
	s := RecordStore{Dir: t.TempDir()}
	_, err := s.Read("never-added")
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Read = %v, want an error wrapping os.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), "never-added") {
		t.Fatalf("error %q does not name the container", err)
	}
}

func TestRecordStoreReadOfCorruptRecordFails(t *testing.T) {
	s := RecordStore{Dir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(s.Dir, "c1.json"), []byte(`{"containerID":`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read("c1"); err == nil || errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "decode attachment record") {
		t.Fatalf("Read = %v, want a decode error", err)
	}
}

func TestRecordStoreRemoveIsIdempotent(t *testing.T) {
	s := RecordStore{Dir: t.TempDir()}
	if err := s.Write(sampleRecord("c1")); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := s.Remove("c1"); err != nil {
			t.Fatalf("Remove #%d = %v", i+1, err)
		}
	}
	if _, err := s.Read("c1"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Read after Remove = %v, want not exist", err)
	}
	missing := RecordStore{Dir: filepath.Join(t.TempDir(), "never-created")}
	if err := missing.Remove("c1"); err != nil {
		t.Fatalf("Remove from a store that was never created = %v", err)
	}
}

func TestRecordStoreListSkipsTempFilesAndReportsCorruptOnes(t *testing.T) {
	s := RecordStore{Dir: t.TempDir()}
	for _, id := range []string{"c1", "c2"} {
		if err := s.Write(sampleRecord(id)); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string]string{
		".c3.json.123.tmp": `{"containerID":"c3"}`, // an interrupted Write
		".hidden.json":     `{"containerID":"hidden"}`,
		"notes.txt":        `not a record`,
		"bad.json":         `{"containerID":`,
	} {
		if err := os.WriteFile(filepath.Join(s.Dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(s.Dir, "dir.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	records, err := s.List()
	if err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Fatalf("List error = %v, want one naming bad.json", err)
	}
	var ids []string
	for _, r := range records {
		ids = append(ids, r.ContainerID)
	}
	sort.Strings(ids)
	if !reflect.DeepEqual(ids, []string{"c1", "c2"}) {
		t.Fatalf("List returned %v, want [c1 c2]", ids)
	}
}

func TestRecordStoreListOfMissingStoreIsEmpty(t *testing.T) {
	s := RecordStore{Dir: filepath.Join(t.TempDir(), "never-created")}
	records, err := s.List()
	if err != nil || len(records) != 0 {
		t.Fatalf("List = %v, %v; want nothing and no error", records, err)
	}
}

func TestValidContainerID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"", false},
		{".", false},
		{"..", false},
		{"a/b", false},
		{"../x", false},
		{"/abs", false},
		{"a b", false},
		{"a\x00b", false},
		{"ab\\c", false},
		{"0123456789abcdef", true},
		{"cri-o_ctr.1-2", true},
		{"...", true},
		{strings.Repeat("c", MaxContainerID), true},
		{strings.Repeat("c", MaxContainerID+1), false},
		{strings.Repeat("c", 4096), false},
	} {
		err := ValidContainerID(tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("ValidContainerID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
	}
}

func TestRecordStoreRefusesUnsafeContainerIDs(t *testing.T) {
	dir := t.TempDir()
	s := RecordStore{Dir: filepath.Join(dir, "attachments")}
	for _, id := range []string{"", ".", "..", "a/b", "../x"} {
		if err := s.Write(sampleRecord(id)); err == nil {
			t.Errorf("Write(%q) succeeded", id)
		}
		if _, err := s.Read(id); err == nil || errors.Is(err, os.ErrNotExist) {
			t.Errorf("Read(%q) = %v, want a validation error", id, err)
		}
		if err := s.Remove(id); err == nil {
			t.Errorf("Remove(%q) succeeded", id)
		}
	}
	if got := names(t, dir); len(got) != 0 {
		t.Fatalf("refused writes left %v in %s", got, dir)
	}
}

func TestRecordPodNamesPodOrContainer(t *testing.T) {
	if got := (&Record{ContainerID: "c1", PodNamespace: "ns", PodName: "p"}).Pod(); got != "pod ns/p" {
		t.Errorf("Pod() = %q, want \"pod ns/p\"", got)
	}
	if got := (&Record{ContainerID: "c1"}).Pod(); got != "container c1" {
		t.Errorf("Pod() = %q, want \"container c1\"", got)
	}
}

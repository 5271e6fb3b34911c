package delegate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/meta-cni/meta-cni/internal/atomicfile"
)

// Record is everything meta-cni needs to CHECK or DEL a container's
// networks without the API server. It is written before any delegate runs.
type Record struct {
	ContainerID  string      `json:"containerID"`
	NetNS        string      `json:"netns"`
	IfName       string      `json:"ifName"`
	CNIVersion   string      `json:"cniVersion"`
	PodNamespace string      `json:"podNamespace,omitempty"`
	PodName      string      `json:"podName,omitempty"`
	PodUID       string      `json:"podUID,omitempty"`
	Args         [][2]string `json:"args,omitempty"`
	Delegates    []Delegate  `json:"delegates"`
}

// Pod names the record's pod for messages, or the container when the
// caller is not Kubernetes.
func (r *Record) Pod() string {
	if r.PodName == "" {
		return "container " + r.ContainerID
	}
	return "pod " + r.PodNamespace + "/" + r.PodName
}

// RecordStore keeps one record file per container in Dir.
type RecordStore struct {
	Dir string
}

// MaxContainerID bounds a container ID's length: the record's file name
// (and its temp file's, and libcni's cache files') holds it, and a file
// name has at most 255 bytes. Runtimes use 64 hex digits.
const MaxContainerID = 128

// ValidContainerID rejects IDs that could escape the store directory; the
// CNI spec allows only alphanumerics, '_', '.' and '-'.
func ValidContainerID(id string) error {
	if id == "" {
		return errors.New("container ID is empty")
	}
	if len(id) > MaxContainerID {
		return fmt.Errorf("container ID %q... has %d characters; at most %d fit in the attachment record's file name", id[:16], len(id), MaxContainerID)
	}
	if id == "." || id == ".." || !validNetworkName(id) {
		return fmt.Errorf("container ID %q may hold only letters, digits, '.', '_' and '-'", id)
	}
	return nil
}

func (s RecordStore) path(containerID string) string {
	return filepath.Join(s.Dir, containerID+".json")
}

// Write stores r durably: a temp file, fsync, rename, then fsync of the
// directory, so a crash leaves either the old record or the new one.
func (s RecordStore) Write(r *Record) error {
	if err := ValidContainerID(r.ContainerID); err != nil {
		return err
	}
	data, err := encodeRecord(r)
	if err != nil {
		return fmt.Errorf("encode attachment record of %s: %w", r.Pod(), err)
	}
	// An existing dir keeps its mode under MkdirAll; the records name
	// every pod's netns and delegates, so the dir is made private.
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("create attachment cache %s: %w", s.Dir, err)
	}
	if err := os.Chmod(s.Dir, 0o700); err != nil {
		return fmt.Errorf("make attachment cache %s private: %w", s.Dir, err)
	}
	if err := atomicfile.Write(s.path(r.ContainerID), bytes.NewReader(data), 0o600, "."); err != nil {
		return fmt.Errorf("write attachment record of %s: %w", r.Pod(), err)
	}
	return nil
}

// Read returns the record of a container; the error wraps os.ErrNotExist
// when there is none.
func (s RecordStore) Read(containerID string) (*Record, error) {
	if err := ValidContainerID(containerID); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(s.path(containerID))
	if err != nil {
		return nil, fmt.Errorf("read attachment record of container %s: %w", containerID, err)
	}
	r, err := decodeRecord(data)
	if err != nil {
		return nil, fmt.Errorf("decode attachment record %s: %w", s.path(containerID), err)
	}
	return r, nil
}

// encodeRecord and decodeRecord are the record file's format, kept apart
// from the file handling so that the fuzz target can reach them.
func encodeRecord(r *Record) ([]byte, error) { return json.Marshal(r) }

func decodeRecord(data []byte) (*Record, error) {
	r := &Record{}
	if err := json.Unmarshal(data, r); err != nil {
		return nil, err
	}
	return r, nil
}

// Remove deletes a container's record; a missing record is not an error.
// The removal is not fsynced: a record that comes back after a crash only
// makes a later DEL or GC delete, again, delegates that are already gone,
// which every delegate must accept. A record that went missing would leak,
// which is why Write syncs and Remove need not.
func (s RecordStore) Remove(containerID string) error {
	if err := ValidContainerID(containerID); err != nil {
		return err
	}
	if err := os.Remove(s.path(containerID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove attachment record of container %s: %w", containerID, err)
	}
	return nil
}

// List returns every record in the store; unreadable files are reported in
// the error but do not hide the others.
func (s RecordStore) List() ([]*Record, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list attachment cache %s: %w", s.Dir, err)
	}
	var out []*Record
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") {
			continue
		}
		r, err := s.Read(strings.TrimSuffix(name, ".json"))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

package testenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ReferenceRecord is one piece of per-attachment state the reference
// keeps on a node; a soak's no-leak check wants each to belong to a live
// sandbox.
type ReferenceRecord struct {
	Kind        string // "multus delegates" or "cached result"
	Path        string
	ContainerID string
}

// ReferenceRecords lists what Multus keeps per attachment in the node's
// CacheDir: its copy of a sandbox's delegates (<cniDir>/<containerID>),
// written on ADD for DEL to read, and the results libcni caches for each
// delegate (<cniDir>/results/...), which name their container. Whereabouts
// keeps nothing on the node.
func ReferenceRecords(n ReferenceNode) ([]ReferenceRecord, error) {
	entries, err := os.ReadDir(n.CacheDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("list Multus's cache on node %s: %w", n.Name, err)
	}
	var out []ReferenceRecord
	for _, e := range entries {
		if e.Type().IsRegular() {
			out = append(out, ReferenceRecord{Kind: "multus delegates", Path: filepath.Join(n.CacheDir, e.Name()), ContainerID: e.Name()})
		}
	}
	results := filepath.Join(n.CacheDir, "results")
	entries, err = os.ReadDir(results)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	} else if err != nil {
		return nil, fmt.Errorf("list Multus's cached results on node %s: %w", n.Name, err)
	}
	for _, e := range entries {
		path := filepath.Join(results, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read cached result %s on node %s: %w", path, n.Name, err)
		}
		var cached struct {
			ContainerID string `json:"containerId"`
		}
		if err := json.Unmarshal(data, &cached); err != nil {
			return nil, fmt.Errorf("parse cached result %s on node %s: %w", path, n.Name, err)
		}
		out = append(out, ReferenceRecord{Kind: "cached result", Path: path, ContainerID: cached.ContainerID})
	}
	return out, nil
}

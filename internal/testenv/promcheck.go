package testenv

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// PromcheckBinary builds hack/tools/promcheck (cached) and returns its path.
// Unlike the other tools its source lives in this repo, so the cached
// binary's name carries a hash of that source: an edit builds a new one.
func PromcheckBinary() (string, error) {
	dir := filepath.Join(RepoRoot(), "hack", "tools", "promcheck")
	sum, err := sourceHash(dir)
	if err != nil {
		return "", err
	}
	return buildTool("promcheck", ".", "promcheck-"+sum)
}

// sourceHash hashes the names and contents of the files directly in dir.
func sourceHash(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", e.Name(), len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// PromExpression is one PromQL expression promcheck found in a rule file or
// a dashboard, with the metric names its selectors use.
type PromExpression struct {
	File     string   `json:"file"`
	Location string   `json:"location"`
	Expr     string   `json:"expr"`
	Metrics  []string `json:"metrics"`
}

// Promcheck runs promcheck with args (-rules FILE, -dashboard FILE) and
// returns the expressions it found. A file that Prometheus's rule loader or
// PromQL parser refuses is an error carrying promcheck's message.
func Promcheck(args ...string) ([]PromExpression, error) {
	bin, err := PromcheckBinary()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("promcheck %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	var out []PromExpression
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("decode promcheck output: %w", err)
	}
	return out, nil
}

package main

import (
	"os"
	"regexp"
	"testing"

	"github.com/meta-cni/meta-cni/pkg/ipam"
)

// Every config in the README must parse: users copy them.
func TestReadmeExamplesParse(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(b, -1)
	if len(blocks) < 3 {
		t.Fatalf("found %d JSON examples, want at least 3", len(blocks))
	}
	for i, m := range blocks {
		conf, err := ipam.NetConfFromFile(m[1])
		if err != nil {
			t.Errorf("example %d: %v", i, err)
			continue
		}
		if _, err := ipam.ParseConfig(conf, ""); err != nil {
			t.Errorf("example %d: %v", i, err)
		}
	}
}

package ipam

import (
	"errors"
	"strings"
	"testing"
)

// A prevResult whose ips list holds a JSON null made CHECK dereference a
// nil pointer; it is a config error naming prevResult (found by
// FuzzPrevResult in pkg/routing, which reads prevResults the same way).
func TestPrevResultWithANullAddressIsAConfigError(t *testing.T) {
	cfg := &Config{CNIVersion: "1.0.0", RawPrevResult: map[string]any{
		"cniVersion": "1.0.0", "ips": []any{map[string]any{"address": "10.0.0.2/24"}, nil}}}
	_, err := parsePrevResult(cfg)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "prevResult" || !strings.Contains(err.Error(), "ips[1] is null") {
		t.Fatalf("parsePrevResult = %v, want a prevResult ConfigError naming ips[1]", err)
	}
	if code := cniError(err).Code; code != 7 {
		t.Fatalf("code %d, want 7", code)
	}
}

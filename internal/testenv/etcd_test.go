package testenv

import (
	"net/http"
	"strings"
	"testing"
)

func TestStartEtcdClusterServesHealthOnEveryMember(t *testing.T) {
	c := StartEtcdClusterT(t, 3, nil)
	for _, ep := range c.Endpoints() {
		resp, err := http.Get(ep + "/health")
		if err != nil {
			t.Fatalf("GET %s/health: %v", ep, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s/health: status %d", ep, resp.StatusCode)
		}
	}
	if !strings.HasPrefix(c.Endpoints()[0], "http://127.0.0.1:") {
		t.Fatalf("endpoint %q is not on loopback", c.Endpoints()[0])
	}
}

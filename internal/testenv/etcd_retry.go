package testenv

import (
	"fmt"
	"path/filepath"
	"testing"
)

// StartEtcdClusterRetry is StartEtcdClusterT that tries up to three times on
// fresh ports and data. Under parallel `go test` processes another test can
// take a port between FreePort and etcd's bind, and the member then exits.
func StartEtcdClusterRetry(t testing.TB, n int, tls *EtcdTLS) *EtcdCluster {
	t.Helper()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var c *EtcdCluster
		c, err = StartEtcdCluster(filepath.Join(t.TempDir(), fmt.Sprint("try", attempt)), n, tls)
		if err == nil {
			t.Cleanup(c.Stop)
			return c
		}
		t.Logf("start etcd (attempt %d): %v", attempt+1, err)
	}
	t.Fatalf("start etcd: %v", err)
	return nil
}

package ipam

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// A transaction etcd refuses as invalid (here one that writes a key twice,
// the shape of the two-range-set bug) fails the same way however often it
// is sent: it must fail at once, and never as 11 "try again later".
func TestARequestEtcdRefusesAsInvalidIsNotTryAgainLater(t *testing.T) {
	c := testenv.StartEtcdClusterRetry(t, 1, nil)
	for _, plugin := range []bool{true, false} {
		t.Run(fmt.Sprintf("plugin=%v", plugin), func(t *testing.T) {
			s, _ := testStore(t, c)
			if !plugin {
				s.classify = nil // as a daemon's store over NewStoreKV
			}
			key := s.Prefix + "/twice"
			start := time.Now()
			_, err := s.txn(ctxT(t), nil, []Op{Put(key, "a"), Put(key, "b")}, nil)
			var re *RejectedError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), "duplicate key") {
				t.Fatalf("txn with a key written twice: %v, want a RejectedError naming etcd's reason", err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("the refused request was retried for %s", took)
			}
			if code := cniError(err).Code; code != types.ErrInternal {
				t.Errorf("CNI code %d (%s), want %d", code, cniError(err).Msg, types.ErrInternal)
			}
		})
	}
}

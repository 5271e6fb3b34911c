package delegate

import (
	"context"
	"slices"
	"testing"

	"github.com/containernetworking/cni/pkg/invoke"
)

type environRecorder struct {
	invoke.Exec
	environ []string
}

func (r *environRecorder) ExecPlugin(_ context.Context, _ string, _ []byte, environ []string) ([]byte, error) {
	r.environ = environ
	return nil, nil
}

// os/exec takes a key's last value, so the runner's entries must come last
// to win over the same variable in the runtime's environment.
func TestEnvExecAddsItsEntriesAfterTheCallersSoTheyWin(t *testing.T) {
	rec := &environRecorder{}
	e := envExec{Exec: rec, env: []string{"NODE_NAME=node-1"}}
	caller := []string{"CNI_COMMAND=ADD", "NODE_NAME=hostname-guess"}
	if _, err := e.ExecPlugin(context.Background(), "/opt/cni/bin/macvlan", nil, caller); err != nil {
		t.Fatal(err)
	}
	want := []string{"CNI_COMMAND=ADD", "NODE_NAME=hostname-guess", "NODE_NAME=node-1"}
	if !slices.Equal(rec.environ, want) {
		t.Errorf("environ = %v, want %v", rec.environ, want)
	}
	if !slices.Equal(caller, []string{"CNI_COMMAND=ADD", "NODE_NAME=hostname-guess"}) {
		t.Errorf("caller's environ changed to %v", caller)
	}
}

// Package report carries one meta-cni run's outcome from the plugin to its
// node's meta-cni-daemon, which exports it as metrics. The plugin sends it
// after it has answered the runtime, without waiting for a reply: a report
// can be lost, but it can never slow or fail a pod's ADD beyond its small
// budget.
package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"time"
)

// Path is the node API route that takes a Run.
const Path = "/meta-cni/v1/plugin-runs"

// Budget bounds how long a plugin spends sending a report. Connecting to
// a listening unix socket and writing a few hundred bytes takes
// microseconds, but on a loaded node the plugin can be descheduled between
// the two for tens of milliseconds, and a 5 ms budget lost reports exactly
// when the node was busiest (CI at load 15). 50 ms keeps those, and is
// what a wedged daemon can cost an ADD at most, against pod starts of
// seconds.
const Budget = 50 * time.Millisecond

// Verbs are the CNI verbs a run reports; VERSION is not worth a series.
var Verbs = []string{"ADD", "DEL", "CHECK", "GC", "STATUS"}

// maxSeconds is the longest run a report may carry: a runtime gives up on a
// plugin long before.
const maxSeconds = 3600

// Run is one plugin run as the runtime saw it.
type Run struct {
	Verb    string  `json:"verb"`
	Seconds float64 `json:"seconds"`
	// Code is the CNI error code the run returned; 0 when it succeeded.
	Code uint `json:"code"`
}

// Validate checks a Run that came over the socket.
func (r Run) Validate() error {
	known := false
	for _, v := range Verbs {
		known = known || r.Verb == v
	}
	if !known {
		return fmt.Errorf("verb %q: want one of %v", r.Verb, Verbs)
	}
	if math.IsNaN(r.Seconds) || r.Seconds < 0 || r.Seconds > maxSeconds {
		return fmt.Errorf("seconds %v: want 0 to %d", r.Seconds, maxSeconds)
	}
	if r.Code > 999 {
		return fmt.Errorf("code %d: CNI error codes are below 1000", r.Code)
	}
	return nil
}

// Decode reads one Run as the daemon takes it from the socket: no field
// the plugin does not send, and only values Validate accepts, since each
// becomes a metric label or observation.
func Decode(r io.Reader) (Run, error) {
	var run Run
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&run); err != nil {
		return Run{}, err
	}
	if err := run.Validate(); err != nil {
		return Run{}, err
	}
	return run, nil
}

// Send writes run to the daemon's unix socket at path within budget and
// returns without reading the answer: the daemon reads the request from the
// socket's buffer after the plugin has exited.
func Send(path string, run Run, budget time.Duration) error {
	body, err := json.Marshal(run)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, "http://meta-cni-daemon"+Path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Close = true
	deadline := time.Now().Add(budget)
	conn, err := net.DialTimeout("unix", path, budget)
	if err != nil {
		return fmt.Errorf("report to %s: %w", path, err)
	}
	defer conn.Close()
	if err := conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	if err := req.Write(conn); err != nil {
		return fmt.Errorf("report to %s: %w", path, err)
	}
	return nil
}

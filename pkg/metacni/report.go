package metacni

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"time"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/meta-cni/meta-cni/pkg/report"
)

// Report tells the node's meta-cni-daemon how a run went, for its
// meta_cni_plugin_* series, once the result has been written. It sends
// nothing when the NetConf names no daemonSocket, for VERSION, or when no
// verb ran; it never fails: a daemon that is down or slow only loses the
// report.
func (p *Plugin) Report(verb string, elapsed time.Duration, err *types.Error) {
	if p.reportTo == "" || !slices.Contains(report.Verbs, verb) {
		return
	}
	run := report.Run{Verb: verb, Seconds: elapsed.Seconds()}
	if err != nil {
		run.Code = err.Code
	}
	_ = report.Send(p.reportTo, run, report.Budget)
}

// daemonSocketOf reads daemonSocket from a NetConf that failed validation,
// so that a run refused for a bad config is reported too.
func daemonSocketOf(stdin []byte) string {
	var c struct {
		DaemonSocket string `json:"daemonSocket"`
	}
	if json.Unmarshal(stdin, &c) != nil || !filepath.IsAbs(c.DaemonSocket) {
		return ""
	}
	return c.DaemonSocket
}

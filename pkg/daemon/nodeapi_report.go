package daemon

import (
	"fmt"
	"net/http"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meta-cni/meta-cni/pkg/report"
)

// maxReport bounds a plugin-run report's body; one is under 100 bytes.
const maxReport = 4 << 10

// acceptReport turns a plugin run into the plugin series. The plugin has
// exited by the time this answers, so the answer is for tests and curl.
func (n *NodeAPI) acceptReport(w http.ResponseWriter, r *http.Request) {
	run, err := report.Decode(http.MaxBytesReader(w, r.Body, maxReport))
	if err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, fmt.Sprintf("plugin-run report: %v", err))
		return
	}
	result := "success"
	if run.Code != 0 {
		result = "error"
		n.metrics.pluginErrors.WithLabelValues(run.Verb, strconv.FormatUint(uint64(run.Code), 10)).Inc()
	}
	n.metrics.pluginDuration.WithLabelValues(run.Verb, result).Observe(run.Seconds)
	w.WriteHeader(http.StatusAccepted)
}

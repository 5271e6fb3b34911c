package daemon

import (
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meta-cni/meta-cni/pkg/delegate"
)

// metric is one family in the Prometheus text exposition format.
type metric struct {
	name, help, typ string
	samples         []sample
}

type sample struct {
	name   string // suffix to the family's name, such as _bucket
	labels [][2]string
	value  string
}

// collect gathers every metric. Attachment figures are read from the cache
// at scrape time: the plugin, not the daemon, writes the records.
func (d *Daemon) collect() []metric {
	installed := 0.0
	if ns := d.installedAt.Load(); ns != 0 {
		installed = float64(ns) / float64(time.Second)
	}
	attachments, networks := d.attachmentCounts()
	passes, released, errs := d.reconcileCounts()
	leader := "0"
	if d.reconcileLeader.Load() {
		leader = "1"
	}
	m := []metric{
		{"meta_cni_daemon_info", "Version of the running meta-cni-daemon; the value is always 1.", "gauge",
			[]sample{{labels: [][2]string{{"version", Version}}, value: "1"}}},
		{"meta_cni_install_timestamp_seconds", "Unix time at which the last install finished; 0 until the first one does.", "gauge",
			[]sample{{value: strconv.FormatFloat(installed, 'f', 3, 64)}}},
		{"meta_cni_token_refreshes_total", "Times a rotated ServiceAccount token was copied to the host.", "counter",
			[]sample{{value: strconv.FormatUint(d.tokenRefreshes.Load(), 10)}}},
		{"meta_cni_token_refresh_errors_total", "Token refreshes that failed to read the projected token or write the host copy.", "counter",
			[]sample{{value: strconv.FormatUint(d.tokenRefreshErrors.Load(), 10)}}},
		{"meta_cni_ipam_reconcile_passes_total", "IPAM reconcile passes this daemon ran while it led.", "counter",
			[]sample{{value: strconv.FormatUint(passes, 10)}}},
		{"meta_cni_ipam_reconcile_released_total", "Allocations of pods that no longer exist that the IPAM reconciler released.", "counter",
			[]sample{{value: strconv.FormatUint(released, 10)}}},
		{"meta_cni_ipam_reconcile_errors_total", "IPAM reconciler failures: setup, listing holdings, pod GETs other than NotFound, and releases.", "counter",
			[]sample{{value: strconv.FormatUint(errs, 10)}}},
		{"meta_cni_ipam_reconcile_leader", "1 while this daemon holds the IPAM reconciler's Lease, else 0.", "gauge",
			[]sample{{value: leader}}},
		{"meta_cni_attachments", "Containers with an attachment record in meta-cni's cache on this node.", "gauge",
			[]sample{{value: strconv.Itoa(attachments)}}},
	}
	nets := metric{name: "meta_cni_attachment_networks", help: "Delegates attached on this node, per network (namespace/name of a NetworkAttachmentDefinition, or file:<path>).", typ: "gauge"}
	for _, name := range slices.Sorted(maps.Keys(networks)) {
		nets.samples = append(nets.samples, sample{labels: [][2]string{{"network", name}}, value: strconv.Itoa(networks[name])})
	}
	m = append(m, nets)
	if n := d.nodeAPI.Load(); n != nil {
		m = append(m, n.metrics()...)
	}
	return m
}

// reconcileCounts reads the reconciler's counters, plus setup failures.
func (d *Daemon) reconcileCounts() (passes, released, errs uint64) {
	errs = d.reconcileSetupErrors.Load()
	if r := d.reconciler.Load(); r != nil {
		passes, released, errs = r.passes.Load(), r.released.Load(), errs+r.errs.Load()
	}
	return passes, released, errs
}

// attachmentCounts counts records and their delegates per network. An
// unreadable record is left out and logged, not allowed to hide the rest.
func (d *Daemon) attachmentCounts() (int, map[string]int) {
	store := delegate.RecordStore{Dir: filepath.Join(d.cfg.CacheDir, "attachments")}
	records, err := store.List()
	if err != nil {
		d.log.Warn("read attachment records", "dir", store.Dir, "err", err)
	}
	networks := map[string]int{}
	for _, r := range records {
		for _, dg := range r.Delegates {
			networks[dg.Network]++
		}
	}
	return len(records), networks
}

func writeMetrics(w io.Writer, metrics []metric) error {
	var b strings.Builder
	for _, m := range metrics {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", m.name, escapeHelp(m.help), m.name, m.typ)
		for _, s := range m.samples {
			b.WriteString(m.name)
			b.WriteString(s.name)
			if len(s.labels) > 0 {
				b.WriteByte('{')
				for i, l := range s.labels {
					if i > 0 {
						b.WriteByte(',')
					}
					fmt.Fprintf(&b, "%s=\"%s\"", l[0], escapeLabel(l[1]))
				}
				b.WriteByte('}')
			}
			b.WriteByte(' ')
			b.WriteString(s.value)
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }

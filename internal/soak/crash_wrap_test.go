package soak

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// crashWrap is internal/testenv/crashwrap standing in every node's bin
// dir for one plugin: the plugin moves to <name>.real, and each ADD that
// claims one of the wrap's tokens is SIGKILLed after the token's delay.
// The node agent installs binaries only when it starts, so the wrap stays
// until remove puts the plugin back.
type crashWrap struct {
	binary string
	dir    string // tokens/, claimed/, kills, durations
	bins   []string
}

// installCrashWrap swaps the wrapper in for binary on every node, each
// step a rename, so a runtime never finds the plugin missing.
func installCrashWrap(c *cluster, binary string) (*crashWrap, error) {
	src, err := testenv.CNIPath()
	if err != nil {
		return nil, err
	}
	w := &crashWrap{binary: binary, dir: filepath.Join(c.dir, "crash", binary)}
	for _, d := range []string{"tokens", "claimed"} {
		if err := os.MkdirAll(filepath.Join(w.dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	for _, n := range c.nodes {
		bin := n.binDir()
		plugin := filepath.Join(bin, binary)
		if err := os.Link(plugin, plugin+".real"); err != nil {
			return w, fmt.Errorf("node %s: keep %s: %w", n.name, binary, err)
		}
		w.bins = append(w.bins, bin)
		if err := os.WriteFile(plugin+".crash", []byte(w.dir+"\n"), 0o644); err != nil {
			return w, err
		}
		tmp := filepath.Join(bin, "."+binary+".crashwrap")
		if err := copyFile(filepath.Join(src, "crashwrap"), tmp); err != nil {
			return w, err
		}
		if err := os.Rename(tmp, plugin); err != nil {
			return w, fmt.Errorf("node %s: wrap %s: %w", n.name, binary, err)
		}
	}
	return w, nil
}

// remove puts the real plugin back on every node it was wrapped on.
func (w *crashWrap) remove() error {
	var errs []error
	for _, bin := range w.bins {
		plugin := filepath.Join(bin, w.binary)
		if err := os.Rename(plugin+".real", plugin); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("restore %s: %w", plugin, err))
		}
		_ = os.Remove(plugin + ".crash")
	}
	w.bins = nil
	return errors.Join(errs...)
}

// arm leaves one token per delay; reset forgets earlier kills and
// durations first.
func (w *crashWrap) arm(delays []time.Duration) error {
	for i, d := range delays {
		path := filepath.Join(w.dir, "tokens", fmt.Sprintf("k%04d", i))
		if err := os.WriteFile(path, []byte(strconv.FormatInt(d.Microseconds(), 10)), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// armed is how many kills no ADD has used yet.
func (w *crashWrap) armed() int {
	entries, _ := os.ReadDir(filepath.Join(w.dir, "tokens"))
	return len(entries)
}

// disarm removes the tokens no ADD used and says how many there were.
func (w *crashWrap) disarm() int {
	entries, _ := os.ReadDir(filepath.Join(w.dir, "tokens"))
	for _, e := range entries {
		_ = os.Remove(filepath.Join(w.dir, "tokens", e.Name()))
	}
	return len(entries)
}

func (w *crashWrap) reset() {
	_ = os.Remove(filepath.Join(w.dir, "kills"))
	_ = os.Remove(filepath.Join(w.dir, "durations"))
}

// kills is the container ID of every ADD the wrap killed, with its delay.
func (w *crashWrap) kills() (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	err := eachLine(filepath.Join(w.dir, "kills"), func(f []string) {
		if len(f) == 2 {
			us, _ := strconv.ParseInt(f[1], 10, 64)
			out[f[0]] = time.Duration(us) * time.Microsecond
		}
	})
	return out, err
}

// addDurations are the durations of the ADDs the plugin ran to their end
// under the wrap, shortest first.
func (w *crashWrap) addDurations() ([]time.Duration, error) {
	var ds []time.Duration
	err := eachLine(filepath.Join(w.dir, "durations"), func(f []string) {
		if us, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			ds = append(ds, time.Duration(us)*time.Microsecond)
		}
	})
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, fmt.Errorf("no ADD of %s ran to its end under the wrap", w.binary)
	}
	slices.Sort(ds)
	return ds, nil
}

// killDelays draws n points at random within ADDs as long as the measured
// ones: each a uniform point of one measured ADD picked at random. Every
// delay is then shorter than a real ADD, where a uniform draw up to the
// median often came after the ADD it was meant for had ended.
func killDelays(ds []time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		d := ds[rand.IntN(len(ds))]
		out[i] = time.Duration(rand.Int64N(int64(d) + 1))
	}
	return out
}

func eachLine(path string, fn func(fields []string)) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 0 {
			fn(fields)
		}
	}
	return sc.Err()
}

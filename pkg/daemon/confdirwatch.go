package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// confDirPoll is how often the conf dir is read when inotify cannot watch
// it; Multus's thin entrypoint polls at the same rate.
const confDirPoll = time.Second

// confDirWatch signals on C when a network config in the conf dir may have
// changed: a create, write, rename or removal of a file the runtime would
// load, other than meta-cni's own conflist and the daemon's temp files.
// Signals coalesce, so a reader re-reads the dir once per burst.
type confDirWatch struct {
	C    <-chan struct{}
	stop func()
}

// watchConfDir watches dir with inotify, so a new cluster conf is seen at
// once. Where inotify is unavailable (a node out of inotify instances), it
// falls back to a poll, which is slower but sees the same changes.
func watchConfDir(dir, ownName string, log *slog.Logger) (*confDirWatch, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create conf dir %s: %w", dir, err)
	}
	w, err := fsnotify.NewWatcher()
	if err == nil {
		if err = w.Add(dir); err != nil {
			w.Close()
		}
	}
	if err != nil {
		log.Warn("cannot watch the conf dir with inotify; polling it instead", "dir", dir, "interval", confDirPoll, "err", err)
		ctx, cancel := context.WithCancel(context.Background())
		return &confDirWatch{C: pollSignal(ctx, confDirPoll), stop: cancel}, nil
	}
	c := make(chan struct{}, 1)
	signal := func() {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if relevantConfEvent(ev.Name, ownName) {
					signal()
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				// An overflow loses events: read the dir again to be sure.
				log.Warn("watch conf dir", "dir", dir, "err", err)
				signal()
			}
		}
	}()
	return &confDirWatch{C: c, stop: func() { close(done); w.Close() }}, nil
}

func (w *confDirWatch) Stop() { w.stop() }

// relevantConfEvent says whether an event on path can change which conf is
// the cluster network's; the daemon's own writes cannot.
func relevantConfEvent(path, ownName string) bool {
	name := filepath.Base(path)
	return name != ownName && !strings.HasPrefix(name, tempPrefix) && isConfName(name)
}

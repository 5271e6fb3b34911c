package pluginlog

import (
	"io"
	"log/slog"
	"os"
)

// New returns the logger of one plugin process and a func that releases its
// log file. Logs go to the log file, to stderr, to both or nowhere, as c
// says, and never to stdout: stdout carries the CNI result. Every line
// carries plugin=<plugin>. c must have passed Validate; a log file that
// cannot be opened sends the logs to stderr instead, since a plugin must not
// fail a pod over its logs.
func New(plugin string, c Config) (*slog.Logger, func()) {
	return newLogger(plugin, c, os.Stderr)
}

// newLogger is New with stderr replaceable, for tests.
func newLogger(plugin string, c Config, stderr io.Writer) (*slog.Logger, func()) {
	toFile, toStderr, level := c.sinks()
	opts := &slog.HandlerOptions{Level: level}
	var handlers []slog.Handler
	closer := func() {}
	if toFile {
		var fallback io.Writer
		if !toStderr {
			fallback = stderr
		}
		f, err := openFile(c.File, c.Options.rotation(), fallback)
		if err != nil {
			toStderr = true
			defer func() {
				slog.New(slog.NewTextHandler(stderr, nil)).Warn("logging to stderr instead of the log file", "plugin", plugin, "path", c.File, "err", err)
			}()
		} else {
			handlers = append(handlers, slog.NewTextHandler(f, opts))
			closer = func() { _ = f.Close() }
		}
	}
	if toStderr {
		handlers = append(handlers, slog.NewTextHandler(stderr, opts))
	}
	var h slog.Handler
	switch len(handlers) {
	case 0:
		h = slog.DiscardHandler
	case 1:
		h = handlers[0]
	default:
		h = slog.NewMultiHandler(handlers...)
	}
	return slog.New(h).With("plugin", plugin), closer
}

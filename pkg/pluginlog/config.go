// Package pluginlog is where the CNI plugins' logs go: the level words they
// accept, stderr or a log file, and the file's rotation. meta-cni, etcd-ipam
// and host-route all read the same keys as Multus: logFile, logLevel,
// logToStderr and logOptions.
package pluginlog

import (
	"fmt"
	"log/slog"
	"strings"
)

// Defaults for the logOptions a config leaves out; Multus's own, so a file
// that Multus kept bounded stays bounded here.
const (
	DefaultMaxSize    = 100 // megabytes
	DefaultMaxBackups = 5
	DefaultMaxAge     = 5 // days
	DefaultCompress   = true
)

// Upper bounds that keep lumberjack's byte count and the age cut-off from
// overflowing.
const (
	maxMaxSize = 1 << 20 // megabytes: 1 TiB
	maxMaxAge  = 36500   // days
)

// Options is Multus's "logOptions" block. Each field is a pointer so that an
// explicit 0 can be told from an absent field.
type Options struct {
	// MaxAge is how many days a backup is kept; 0 means no age limit.
	MaxAge *int `json:"maxAge,omitempty"`
	// MaxSize is the size in megabytes at which the file is rotated; 0 means
	// the default.
	MaxSize *int `json:"maxSize,omitempty"`
	// MaxBackups is how many rotated files are kept. 0 means the default:
	// lumberjack and Multus read it as "keep them all", which can fill a disk.
	MaxBackups *int `json:"maxBackups,omitempty"`
	// Compress gzips rotated files.
	Compress *bool `json:"compress,omitempty"`
}

// Config is where one plugin's logs go, as its own config spells it.
type Config struct {
	File     string   // logFile
	Level    string   // logLevel; empty means info to a file, warn to stderr alone
	ToStderr *bool    // logToStderr; absent means stderr only when there is no File
	Options  *Options // logOptions; only used with File
}

// FieldError names the key of a log setting that is wrong, as the user
// wrote it; each plugin turns it into its own config error.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Validate checks the level word and every logOptions number.
func (c Config) Validate() error {
	if c.Level != "" {
		if _, err := ParseLevel(c.Level); err != nil {
			return &FieldError{"logLevel", err.Error()}
		}
	}
	if c.Options == nil {
		return nil
	}
	for _, n := range []struct {
		field string
		value *int
		max   int
	}{
		{"logOptions.maxAge", c.Options.MaxAge, maxMaxAge},
		{"logOptions.maxSize", c.Options.MaxSize, maxMaxSize},
		{"logOptions.maxBackups", c.Options.MaxBackups, -1},
	} {
		switch {
		case n.value == nil:
		case *n.value < 0:
			return &FieldError{n.field, fmt.Sprintf("%d must not be negative", *n.value)}
		case n.max >= 0 && *n.value > n.max:
			return &FieldError{n.field, fmt.Sprintf("%d is more than %d", *n.value, n.max)}
		}
	}
	return nil
}

// ParseLevel reads a level word: Multus's (debug, verbose, error, panic)
// and slog's (debug, info, warn, error), in any case.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug", "verbose":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error", "panic":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not one of debug, info, warn, error", s)
}

// rotation is Options with the defaults filled in.
type rotation struct {
	maxSize, maxBackups, maxAge int
	compress                    bool
}

func (o *Options) rotation() rotation {
	r := rotation{maxSize: DefaultMaxSize, maxBackups: DefaultMaxBackups, maxAge: DefaultMaxAge, compress: DefaultCompress}
	if o == nil {
		return r
	}
	if o.MaxSize != nil && *o.MaxSize > 0 {
		r.maxSize = *o.MaxSize
	}
	if o.MaxBackups != nil && *o.MaxBackups > 0 {
		r.maxBackups = *o.MaxBackups
	}
	if o.MaxAge != nil {
		r.maxAge = *o.MaxAge
	}
	if o.Compress != nil {
		r.compress = *o.Compress
	}
	return r
}

// sinks says where the logs go and at which level.
func (c Config) sinks() (toFile, toStderr bool, level slog.Level) {
	toFile = c.File != ""
	toStderr = !toFile
	if c.ToStderr != nil {
		toStderr = *c.ToStderr
	}
	level = slog.LevelWarn
	if toFile {
		level = slog.LevelInfo
	}
	if l, err := ParseLevel(c.Level); err == nil {
		level = l
	}
	return toFile, toStderr, level
}

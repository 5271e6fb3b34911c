package pluginlog

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

func TestParseLevelAcceptsMultusAndSlogWordsInAnyCase(t *testing.T) {
	for _, tc := range []struct {
		word string
		want slog.Level
	}{
		{"debug", slog.LevelDebug},
		{"verbose", slog.LevelDebug},
		{"info", slog.LevelInfo},
		{"INFO", slog.LevelInfo},
		{"warn", slog.LevelWarn},
		{"warning", slog.LevelWarn},
		{"Warning", slog.LevelWarn},
		{"error", slog.LevelError},
		{"panic", slog.LevelError},
	} {
		got, err := ParseLevel(tc.word)
		if err != nil || got != tc.want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", tc.word, got, err, tc.want)
		}
	}
	for _, word := range []string{"", "trace", "info+2", "fatal"} {
		if _, err := ParseLevel(word); err == nil {
			t.Errorf("ParseLevel(%q) accepted it", word)
		}
	}
}

func TestValidateNamesTheFieldOfABadValue(t *testing.T) {
	for _, tc := range []struct {
		name   string
		c      Config
		field  string
		reason string
	}{
		{"unknown level", Config{Level: "trace"}, "logLevel", `"trace" is not one of debug, info, warn, error`},
		{"negative maxSize", Config{Options: &Options{MaxSize: ptr(-1)}}, "logOptions.maxSize", "-1 must not be negative"},
		{"negative maxBackups", Config{Options: &Options{MaxBackups: ptr(-5)}}, "logOptions.maxBackups", "must not be negative"},
		{"negative maxAge", Config{Options: &Options{MaxAge: ptr(-7)}}, "logOptions.maxAge", "must not be negative"},
		{"maxSize past a tebibyte", Config{Options: &Options{MaxSize: ptr(1<<20 + 1)}}, "logOptions.maxSize", "is more than 1048576"},
		{"maxAge past a century", Config{Options: &Options{MaxAge: ptr(36501)}}, "logOptions.maxAge", "is more than 36500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate() = %v, want a *FieldError", err)
			}
			if fe.Field != tc.field || !strings.Contains(fe.Reason, tc.reason) {
				t.Fatalf("Validate() = %q %q, want field %q and a reason with %q", fe.Field, fe.Reason, tc.field, tc.reason)
			}
		})
	}
}

func TestValidateAcceptsZeroesAndEmptyFields(t *testing.T) {
	for _, c := range []Config{
		{},
		{File: "/var/log/x.log", Level: "verbose", ToStderr: ptr(false)},
		{Options: &Options{}},
		{Options: &Options{MaxSize: ptr(0), MaxBackups: ptr(0), MaxAge: ptr(0), Compress: ptr(false)}},
		{Options: &Options{MaxSize: ptr(1 << 20), MaxBackups: ptr(1000), MaxAge: ptr(36500)}},
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", c, err)
		}
	}
}

func TestRotationFillsMultusDefaultsAndNeverKeepsEveryBackup(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    *Options
		want rotation
	}{
		{"no logOptions", nil, rotation{maxSize: 100, maxBackups: 5, maxAge: 5, compress: true}},
		{"empty logOptions", &Options{}, rotation{maxSize: 100, maxBackups: 5, maxAge: 5, compress: true}},
		{"zeroes: default size and backups, no age limit", &Options{MaxSize: ptr(0), MaxBackups: ptr(0), MaxAge: ptr(0)},
			rotation{maxSize: 100, maxBackups: 5, maxAge: 0, compress: true}},
		{"every field set", &Options{MaxSize: ptr(50), MaxBackups: ptr(3), MaxAge: ptr(7), Compress: ptr(false)},
			rotation{maxSize: 50, maxBackups: 3, maxAge: 7, compress: false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.o.rotation(); got != tc.want {
				t.Fatalf("rotation() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSinksFollowLogFileAndLogToStderr(t *testing.T) {
	for _, tc := range []struct {
		name             string
		c                Config
		toFile, toStderr bool
		level            slog.Level
	}{
		{"nothing set: warnings to stderr", Config{}, false, true, slog.LevelWarn},
		{"a file: info to the file only", Config{File: "/x.log"}, true, false, slog.LevelInfo},
		{"a file and logToStderr", Config{File: "/x.log", ToStderr: ptr(true)}, true, true, slog.LevelInfo},
		{"logToStderr false and no file: nowhere", Config{ToStderr: ptr(false)}, false, false, slog.LevelWarn},
		{"a level wins over the default", Config{File: "/x.log", Level: "error"}, true, false, slog.LevelError},
		{"debug to stderr", Config{Level: "debug"}, false, true, slog.LevelDebug},
	} {
		t.Run(tc.name, func(t *testing.T) {
			toFile, toStderr, level := tc.c.sinks()
			if toFile != tc.toFile || toStderr != tc.toStderr || level != tc.level {
				t.Fatalf("sinks() = %v %v %v, want %v %v %v", toFile, toStderr, level, tc.toFile, tc.toStderr, tc.level)
			}
		})
	}
}

package pluginlog

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewSendsEachLevelWhereTheConfigSays(t *testing.T) {
	for _, tc := range []struct {
		name             string
		c                func(file string) Config
		inFile, inStderr []string
		nowhere          []string
	}{
		{"stderr alone gets warnings", func(string) Config { return Config{} },
			nil, []string{"a warning"}, []string{"some info"}},
		{"a file gets info and stderr nothing", func(f string) Config { return Config{File: f} },
			[]string{"some info", "a warning"}, nil, []string{"some debug"}},
		{"logToStderr copies the file's lines to stderr", func(f string) Config { return Config{File: f, ToStderr: ptr(true), Level: "debug"} },
			[]string{"some debug", "some info", "a warning"}, []string{"some debug", "some info", "a warning"}, nil},
		{"logToStderr false without a file logs nothing", func(string) Config { return Config{ToStderr: ptr(false)} },
			nil, nil, []string{"some info", "a warning"}},
		{"logLevel error drops warnings", func(f string) Config { return Config{File: f, Level: "error"} },
			nil, nil, []string{"a warning"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "plugin.log")
			var stderr bytes.Buffer
			log, closeLog := newLogger("test-plugin", tc.c(path), &stderr)
			log.Debug("some debug")
			log.Info("some info")
			log.Warn("a warning")
			closeLog()
			file, _ := os.ReadFile(path)
			for _, msg := range tc.inFile {
				if !strings.Contains(string(file), "msg="+quoteIfNeeded(msg)+" plugin=test-plugin") {
					t.Errorf("log file lacks %q:\n%s", msg, file)
				}
			}
			for _, msg := range tc.inStderr {
				if !strings.Contains(stderr.String(), quoteIfNeeded(msg)) {
					t.Errorf("stderr lacks %q:\n%s", msg, stderr.String())
				}
			}
			for _, msg := range tc.nowhere {
				if strings.Contains(string(file), msg) || strings.Contains(stderr.String(), msg) {
					t.Errorf("%q was logged:\nfile: %s\nstderr: %s", msg, file, stderr.String())
				}
			}
			if tc.inFile == nil && tc.inStderr == nil && stderr.Len() > 0 {
				t.Errorf("stderr got %s", stderr.String())
			}
		})
	}
}

func quoteIfNeeded(s string) string {
	if strings.Contains(s, " ") {
		return `"` + s + `"`
	}
	return s
}

func TestNewFallsBackToStderrWhenTheLogFileCannotBeOpened(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	log, closeLog := newLogger("test-plugin", Config{File: filepath.Join(blocker, "plugin.log")}, &stderr)
	log.Info("still logged")
	closeLog()
	for _, want := range []string{"logging to stderr instead of the log file", "not-a-dir/plugin.log", "still logged"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestALineTheFileRefusesGoesToStderrInstead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plugin.log")
	var stderr bytes.Buffer
	log, closeLog := newLogger("test-plugin", Config{File: path, Options: &Options{MaxSize: ptr(1)}}, &stderr)
	defer closeLog()
	// lumberjack refuses a line longer than the whole file may be.
	log.Info("not lost", "blob", strings.Repeat("x", 1<<20))
	if !strings.Contains(stderr.String(), "msg=\"not lost\"") {
		t.Fatalf("the refused line is not on stderr: %.200q", stderr.String())
	}
	log.Info("short")
	if data, _ := os.ReadFile(path); !strings.Contains(string(data), "msg=short") || strings.Contains(stderr.String(), "short") {
		t.Fatalf("the next line did not go to the file alone: file %q", data)
	}
}

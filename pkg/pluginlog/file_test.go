package pluginlog

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// A test binary started with writerEnv set is one plugin process: it logs
// its lines to the file the environment names and exits.
const writerEnv = "PLUGINLOG_TEST_WRITER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(writerEnv); spec != "" {
		os.Exit(runWriter(spec))
	}
	os.Exit(m.Run())
}

// writer is what one writer process is told to do.
type writer struct {
	path                string
	id, lines           int
	maxSize, maxBackups int
	compress            bool
}

func (w writer) env() string {
	return fmt.Sprintf("%s|%d|%d|%d|%d|%t", w.path, w.id, w.lines, w.maxSize, w.maxBackups, w.compress)
}

func runWriter(spec string) int {
	var w writer
	f := strings.Split(spec, "|")
	if len(f) != 6 {
		return 2
	}
	w.path = f[0]
	w.id, _ = strconv.Atoi(f[1])
	w.lines, _ = strconv.Atoi(f[2])
	w.maxSize, _ = strconv.Atoi(f[3])
	w.maxBackups, _ = strconv.Atoi(f[4])
	w.compress = f[5] == "true"
	log, closeLog := New("writer", Config{File: w.path, Options: &Options{
		MaxSize: &w.maxSize, MaxBackups: &w.maxBackups, Compress: &w.compress}})
	defer closeLog()
	for seq := range w.lines {
		log.Info("line", "writer", w.id, "seq", seq, "pad", linePad)
	}
	return 0
}

// linePad makes each line about 400 bytes, so a few thousand lines cross
// the 1 MB maxSize several times.
var linePad = strings.Repeat("x", 320)

var lineRE = regexp.MustCompile(`^time=\S+ level=INFO msg=line plugin=writer writer=(\d+) seq=(\d+) pad=(x+)$`)

// TestConcurrentProcessesShareOneLogFile runs eight writer processes at once,
// as a runtime runs eight ADDs, each writing past maxSize. With room for
// every backup, every line is found exactly once and whole; with
// maxBackups 2, two backups are left and what was dropped is only the
// oldest lines. Every file is 0600 and no file is over maxSize.
func TestConcurrentProcessesShareOneLogFile(t *testing.T) {
	const procs, lines = 8, 1500 // 8 × 1500 × ~400 B ≈ 4.6 MB: four or more rotations
	for _, tc := range []struct {
		name       string
		maxBackups int
		compress   bool
	}{
		{"every backup kept, compressed", 50, true},
		{"every backup kept, plain", 50, false},
		{"two backups kept, compressed", 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "plugin.log")
			runWriters(t, procs, writer{path: path, lines: lines, maxSize: 1, maxBackups: tc.maxBackups, compress: tc.compress})

			backups, err := listBackups(path)
			if err != nil {
				t.Fatal(err)
			}
			if tc.maxBackups < 50 && len(backups) != tc.maxBackups {
				t.Errorf("%d backups left, want maxBackups = %d", len(backups), tc.maxBackups)
			}
			if tc.maxBackups == 50 && len(backups) < 4 {
				t.Errorf("%d backups after writing 4.6 MB with maxSize 1 MB, want at least 4", len(backups))
			}
			checkFiles(t, dir, tc.compress)

			seen := map[[2]int]int{}
			files := []string{path}
			for _, b := range backups {
				files = append(files, b.plain+b.gz)
			}
			for _, f := range files {
				readLines(t, f, func(line string) {
					m := lineRE.FindStringSubmatch(line)
					if m == nil || m[3] != linePad {
						t.Fatalf("%s: torn or foreign line %.120q", filepath.Base(f), line)
					}
					w, _ := strconv.Atoi(m[1])
					s, _ := strconv.Atoi(m[2])
					seen[[2]int{w, s}]++
				})
			}
			for w := range procs {
				first := lines
				for s := range lines {
					switch n := seen[[2]int{w, s}]; {
					case n > 1:
						t.Fatalf("writer %d line %d found %d times", w, s, n)
					case n == 1 && s < first:
						first = s
					case n == 0 && s > first:
						t.Fatalf("writer %d lost line %d but kept line %d: only whole old files may go", w, s, first)
					}
				}
				if tc.maxBackups == 50 && first != 0 {
					t.Errorf("writer %d lost its lines before %d with room for every backup", w, first)
				}
			}
		})
	}
}

func runWriters(t *testing.T, n int, w writer) {
	t.Helper()
	cmds := make([]*exec.Cmd, n)
	outs := make([]*bytes.Buffer, n)
	for i := range n {
		w.id = i
		cmds[i] = exec.Command(os.Args[0], "-test.run=^$")
		cmds[i].Env = append(os.Environ(), writerEnv+"="+w.env())
		outs[i] = &bytes.Buffer{}
		cmds[i].Stdout, cmds[i].Stderr = outs[i], outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("writer %d: %v\n%s", i, err, outs[i])
		}
		if outs[i].Len() > 0 {
			t.Errorf("writer %d wrote to stdout or stderr: %.300q", i, outs[i])
		}
	}
}

// checkFiles requires mode 0600 on everything in dir, no leftover
// temporary file, no plain backup when compressing, and no file over 1 MB.
func checkFiles(t *testing.T, dir string, compress bool) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		name := e.Name()
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %o, want 0600", name, fi.Mode().Perm())
		}
		if fi.Size() > 1<<20 {
			t.Errorf("%s: %d bytes, more than maxSize", name, fi.Size())
		}
		switch {
		case strings.HasSuffix(name, tmpSuffix):
			t.Errorf("%s: a compression's temporary file was left", name)
		case compress && name != "plugin.log" && name != "plugin.log.lock" && !strings.HasSuffix(name, gzSuffix):
			t.Errorf("%s: a backup was left uncompressed", name)
		case !compress && strings.HasSuffix(name, gzSuffix):
			t.Errorf("%s: compressed with compress false", name)
		}
	}
}

func readLines(t *testing.T, path string, fn func(string)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, gzSuffix) {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		r = zr
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fn(sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestAnExistingWiderFileIsNarrowedTo0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plugin.log")
	if err := os.WriteFile(path, []byte("old line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	log, closeLog := New("test-plugin", Config{File: path})
	log.Info("new line")
	closeLog()
	for _, p := range []string{path, path + ".lock"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %o, want 0600", p, fi.Mode().Perm())
		}
	}
	if data, _ := os.ReadFile(path); !strings.HasPrefix(string(data), "old line\n") || !strings.Contains(string(data), "new line") {
		t.Errorf("log file %q: the old line must stay and the new one follow", data)
	}
}

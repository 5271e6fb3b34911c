package pluginlog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	lumberjack "gopkg.in/natefinch/lumberjack.v2"
)

// Byte ranges of the lock file. OFD locks belong to the open file, so the
// kernel drops them when a plugin is killed, and one lock file carries two
// locks that do not block each other.
const (
	writeLock    = 0 // every write, rotation and pruning of the log file
	compressLock = 1 // one process at a time gzips backups
)

// file is a log file that many plugin processes write at once: the runtime
// runs several ADDs in parallel, and each is a process of its own.
// lumberjack rotates it by size. Each write takes the lock file's write lock
// and reopens the file, so a process never appends to a file that another
// one rotated away, and two processes never rotate at once. Pruning and
// compression run here, synchronously, rather than in lumberjack's mill
// goroutine: a plugin process exits as soon as its command is done, killing
// that goroutine, and two processes milling the same backup make the loser
// delete the compressed copy the winner wrote.
type file struct {
	path     string
	rot      rotation
	lj       *lumberjack.Logger
	lock     *os.File
	fallback io.Writer // takes a line the file refused; nil when stderr is already a sink

	mu    sync.Mutex // OFD locks do not exclude goroutines sharing the lock file
	first bool
}

// openFile prepares path for writing; the file itself is opened by each
// write.
func openFile(path string, rot rotation, fallback io.Writer) (*file, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create log directory for %s: %w", path, err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log lock file %s.lock: %w", path, err)
	}
	return &file{
		path: path,
		rot:  rot,
		// lumberjack only rotates: with no backups, age or compression to
		// manage, its mill goroutine has nothing to do.
		lj:       &lumberjack.Logger{Filename: path, MaxSize: rot.maxSize},
		lock:     lock,
		fallback: fallback,
		first:    true,
	}, nil
}

// Write appends one log line. slog hands each line over in a single Write,
// and the write lock keeps lines of different processes from interleaving.
func (f *file) Write(p []byte) (int, error) {
	rotated, first, err := f.write(p)
	if err != nil {
		if f.fallback != nil {
			_, _ = f.fallback.Write(p)
		}
		return 0, err
	}
	if f.rot.compress && (rotated || first) {
		// After a rotation, wait for a compression in progress: its listing
		// may predate this rotation, and the new backup must not stay
		// uncompressed. A process's first line only picks up after one that
		// died compressing, and never waits on a live one.
		f.compressBackups(rotated)
	}
	return len(p), nil
}

func (f *file) write(p []byte) (rotated, first bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.lockRange(writeLock, true); err != nil {
		return false, false, err
	}
	defer f.unlockRange(writeLock)
	first = f.first
	f.first = false
	before, statErr := os.Stat(f.path)
	if statErr == nil && before.Mode().Perm() != 0o600 {
		// lumberjack keeps the mode of the file it rotates, which an older
		// version or an operator may have widened; logs name pods and
		// addresses, so only root reads them, and a line is never written
		// to a wider file.
		if err := os.Chmod(f.path, 0o600); err != nil {
			return false, first, fmt.Errorf("restrict log file %s to mode 0600: %w", f.path, err)
		}
	}
	_, werr := f.lj.Write(p)
	// Closed after every line, so the next one reopens whatever file is at
	// path now and lumberjack measures its size afresh.
	cerr := f.lj.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return false, first, fmt.Errorf("write log file %s: %w", f.path, err)
	}
	after, err := os.Stat(f.path)
	rotated = statErr == nil && (err != nil || !os.SameFile(before, after))
	if rotated || first {
		// Pruned under the write lock, so no reader ever sees more than
		// maxBackups backups once a write has returned. A failed prune does
		// not fail the line, which is written.
		_ = pruneBackups(f.path, f.rot, time.Now())
	}
	return rotated, first, nil
}

// Close releases the lock file.
func (f *file) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return errors.Join(f.lj.Close(), f.lock.Close())
}

// lockRange takes one byte of the lock file; without wait it reports
// whether the lock was free by returning nil.
func (f *file) lockRange(b int64, wait bool) error {
	cmd := unix.F_OFD_SETLK
	if wait {
		cmd = unix.F_OFD_SETLKW
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: b, Len: 1}
	for {
		err := unix.FcntlFlock(f.lock.Fd(), cmd, &lk)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("lock %s.lock: %w", f.path, err)
		}
		return nil
	}
}

func (f *file) unlockRange(b int64) {
	lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: io.SeekStart, Start: b, Len: 1}
	_ = unix.FcntlFlock(f.lock.Fd(), unix.F_OFD_SETLK, &lk)
}

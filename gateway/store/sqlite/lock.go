package sqlite

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLocked means another Store, in this process or another one, has the
// database file open: a store file has one writing Store at a time (one
// tongban serve). Open fails with it, naming the file and the holder.
// Readers (OpenReader) take no lock and are never refused.
var ErrLocked = errors.New("sqlite: the store file is in use by another store")

// lockSuffix names the lock file next to the database: <db>.lock.
const lockSuffix = ".lock"

// storeLock is an exclusive flock(2) on <db>.lock, held from Open to
// Close. The kernel releases it when its process dies, however it dies,
// so a crashed holder never blocks a restart. The file holds a
// description of its holder (lockHolder) for the error of whoever is
// refused; it is never removed, since a process that opened it just
// before its removal could still lock the removed file while another
// locks a new one.
type storeLock struct {
	f *os.File
}

// lockHolder is what the lock file says about its holder.
type lockHolder struct {
	PID     int       `json:"pid"`
	Program string    `json:"program,omitempty"`
	Host    string    `json:"host,omitempty"`
	Since   time.Time `json:"since"` // when it took the lock (its Open)
}

// storeLocks maps each open *Store to its lock, which Close releases.
var storeLocks sync.Map

// lock takes the store file's lock for s, or fails with ErrLocked.
func (s *Store) lock() error {
	l, err := acquireLock(s.opts.Path)
	if err != nil {
		return err
	}
	storeLocks.Store(s, l)
	return nil
}

// unlock releases s's lock, if it holds one.
func (s *Store) unlock() error {
	v, ok := storeLocks.LoadAndDelete(s)
	if !ok {
		return nil
	}
	return v.(*storeLock).release()
}

// acquireLock locks dbPath's lock file, creating it if needed, and
// records this process in it.
func acquireLock(dbPath string) (*storeLock, error) {
	lockPath := dbPath + lockSuffix
	// os.OpenFile sets O_CLOEXEC: a child process never inherits the lock.
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: lock: %w", dbPath, err)
	}
	if err := flock(f, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, lockedError(dbPath, lockPath)
		}
		return nil, fmt.Errorf("sqlite: open %s: lock %s: %w", dbPath, lockPath, err)
	}
	h := lockHolder{PID: os.Getpid(), Since: time.Now().UTC().Truncate(time.Second)}
	if exe, err := os.Executable(); err == nil {
		h.Program = filepath.Base(exe)
	}
	h.Host, _ = os.Hostname()
	b, _ := json.Marshal(h)
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt(append(b, '\n'), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("sqlite: open %s: write %s: %w", dbPath, lockPath, err)
	}
	return &storeLock{f: f}, nil
}

// release empties the lock file, so that it names no stale holder, and
// releases the lock by closing it.
func (l *storeLock) release() error {
	terr := l.f.Truncate(0)
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("release lock: %w", err)
	}
	if terr != nil {
		return fmt.Errorf("release lock: %w", terr)
	}
	return nil
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			return err
		}
	}
}

// lockedError is ErrLocked for dbPath, naming the holder that lockPath
// describes.
func lockedError(dbPath, lockPath string) error {
	var (
		h   lockHolder
		err error
	)
	// The holder writes its description just after taking the lock: give
	// a holder that is starting right now a moment to do so.
	for i := 0; i < 5; i++ {
		var b []byte
		if b, err = os.ReadFile(lockPath); err == nil {
			if err = json.Unmarshal(b, &h); err == nil && h.PID > 0 {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || h.PID <= 0 {
		return fmt.Errorf("%w: %s is held by another process (its lock file %s names no holder)", ErrLocked, dbPath, lockPath)
	}
	who := h.Program
	if who == "" {
		who = "unknown program"
	}
	if h.Host != "" {
		who += " on host " + h.Host
	}
	if h.PID == os.Getpid() {
		who = "this process: " + who
	}
	return fmt.Errorf("%w: %s is held by pid %d (%s) since %s; lock file %s",
		ErrLocked, dbPath, h.PID, who, h.Since.Format(time.RFC3339), lockPath)
}

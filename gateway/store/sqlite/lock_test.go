package sqlite

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/signing"
)

// TestOpenLocked: a second Open of a file that a Store has open is
// refused with ErrLocked, naming the file and the holder, and leaves the
// holder working; once the holder is closed the file opens again.
func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tongban.db")
	a := openAt(t, path, Options{})
	defer a.Close()

	b, err := Open(t.Context(), Options{Path: path, Linker: evidence.Linker{SM3: signing.EvidenceHash}})
	if !errors.Is(err, ErrLocked) {
		if b != nil {
			b.Close()
		}
		t.Fatalf("second Open: got %v, want %v", err, ErrLocked)
	}
	if b != nil {
		t.Error("second Open returned a store along with its error")
	}
	for _, want := range []string{path, fmt.Sprintf("pid %d", os.Getpid()), "this process", path + ".lock", " since "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	t.Logf("refused: %v", err)

	// The refused Open took nothing from the holder.
	if err := a.Probe(t.Context()); err != nil {
		t.Fatalf("holder's write after the refused Open: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path + ".lock"); err != nil || len(b) != 0 {
		t.Errorf("lock file after Close: %q, %v; want it empty (no stale holder)", b, err)
	}
	c := openAt(t, path, Options{})
	if err := c.Probe(t.Context()); err != nil {
		t.Errorf("write after reopening: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenFailureReleasesLock: an Open that fails after taking the lock
// (here: a schema from a newer build) releases it.
func TestOpenFailureReleasesLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tongban.db")
	openAt(t, path, Options{}).Close()
	db := rawDB(t, path)
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (1000, 'from_the_future', 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), Options{Path: path}); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open: got %v, want %v", err, ErrSchemaTooNew)
	}
	if _, err := db.Exec(`DELETE FROM schema_migrations WHERE version = 1000`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	openAt(t, path, Options{}).Close() // not ErrLocked
}

// TestOpenReaderWhileLocked: the offline audit tools read the log of a
// file that a running store holds.
func TestOpenReaderWhileLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tongban.db")
	s := openAt(t, path, Options{})
	defer s.Close()
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	if err := s.AppendEvidence(t.Context(), contracts.EvidenceRecord{At: at, Actor: "gateway", Event: "test"}); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(t.Context(), path)
	if err != nil {
		t.Fatalf("OpenReader while a store holds the file: %v", err)
	}
	defer r.Close()
	seq, _, err := r.EvidenceHead(t.Context())
	if err != nil || seq != 1 {
		t.Errorf("reader's head: %d, %v; want 1", seq, err)
	}
	// The writer still writes, and the reader sees it.
	if err := s.AppendEvidence(t.Context(), contracts.EvidenceRecord{At: at, Actor: "gateway", Event: "test"}); err != nil {
		t.Fatalf("append while a reader is open: %v", err)
	}
	if seq, _, err := r.EvidenceHead(t.Context()); err != nil || seq != 2 {
		t.Errorf("reader's head after an append: %d, %v; want 2", seq, err)
	}
}

// lockChildEnv makes the test binary, run again by TestLockAcrossProcesses,
// act as another process: "hold:<path>" opens the store at path, appends
// one evidence record, says "ready" and holds it until killed (or until
// its stdin closes); "try:<path>" tries to open it and prints the error.
const lockChildEnv = "TONGBAN_SQLITE_LOCK_CHILD"

func lockChild(t *testing.T, mode, path string) {
	switch mode {
	case "hold":
		s, err := Open(t.Context(), Options{Path: path, Linker: evidence.Linker{SM3: signing.EvidenceHash}})
		if err != nil {
			fmt.Println("open:", err)
			os.Exit(1)
		}
		at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
		if err := s.AppendEvidence(t.Context(), contracts.EvidenceRecord{At: at, Actor: "gateway", Event: "test"}); err != nil {
			fmt.Println("append:", err)
			os.Exit(1)
		}
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin) // until the parent goes away
		s.Close()
		os.Exit(0)
	case "try":
		s, err := Open(t.Context(), Options{Path: path, Linker: evidence.Linker{SM3: signing.EvidenceHash}})
		if err == nil {
			s.Close()
			fmt.Println("opened")
			os.Exit(0)
		}
		fmt.Println(err)
		if errors.Is(err, ErrLocked) {
			os.Exit(3)
		}
		os.Exit(1)
	}
	t.Fatalf("%s: unknown mode %q", lockChildEnv, mode)
}

// lockChildCmd runs this test binary as another process in mode on path.
func lockChildCmd(mode, path string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockAcrossProcesses$", "-test.count=1")
	cmd.Env = append(os.Environ(), lockChildEnv+"="+mode+":"+path)
	cmd.Stderr = os.Stderr
	return cmd
}

// TestLockAcrossProcesses: a store held by another process is refused,
// naming that process; a process is refused a store this one holds; and
// once the holder is killed (no Close, the way a crash ends it) the store
// opens at once.
func TestLockAcrossProcesses(t *testing.T) {
	if v := os.Getenv(lockChildEnv); v != "" {
		mode, path, _ := strings.Cut(v, ":")
		lockChild(t, mode, path)
		return
	}
	path := filepath.Join(t.TempDir(), "tongban.db")

	// Another process holds the store.
	holder := lockChildCmd("hold", path)
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- strings.TrimSpace(line)
		io.Copy(io.Discard, stdout)
		exited <- holder.Wait()
	}()
	defer holder.Process.Kill()
	select {
	case line := <-ready:
		if line != "ready" {
			t.Fatalf("holder: %q", line)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("holder not ready within 30s")
	}

	_, err = Open(t.Context(), Options{Path: path, Linker: evidence.Linker{SM3: signing.EvidenceHash}})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Open of a store another process holds: got %v, want %v", err, ErrLocked)
	}
	for _, want := range []string{path, fmt.Sprintf("pid %d ", holder.Process.Pid)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "this process") {
		t.Errorf("error %q calls another process's lock this process's", err)
	}
	t.Logf("refused: %v", err)

	// The audit tools still read it.
	r, err := OpenReader(t.Context(), path)
	if err != nil {
		t.Fatalf("OpenReader of a store another process holds: %v", err)
	}
	if seq, _, err := r.EvidenceHead(t.Context()); err != nil || seq != 1 {
		t.Errorf("reader's head: %d, %v; want the holder's record, 1", seq, err)
	}
	r.Close()

	// Killed, the holder leaves the lock file naming it, but no lock.
	if err := holder.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("holder did not exit within 10s of SIGKILL")
	}
	s := openAt(t, path, Options{})
	if seq, _, err := s.EvidenceHead(t.Context()); err != nil || seq != 1 {
		t.Errorf("head after the holder was killed: %d, %v; want 1", seq, err)
	}

	// This process holds it: another process is refused, told so.
	out, err := lockChildCmd("try", path).Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("another process opening a store this one holds: %v, output %q; want ErrLocked (exit 3)", err, out)
	}
	if want := fmt.Sprintf("%s is held by pid %d ", path, os.Getpid()); !strings.Contains(string(out), want) {
		t.Errorf("other process's error %q does not say %q", out, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := lockChildCmd("try", path).Output(); err != nil || strings.TrimSpace(string(out)) != "opened" {
		t.Errorf("another process opening the store after Close: %v, output %q", err, out)
	}
}

//go:build linux

package shm_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmkit/shmkit/shm"
)

// A file-backed segment truncated under its mapping: Check says so, and
// Guard turns the SIGBUS of touching the lost pages into ErrTruncated.
func TestTruncatedSegment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seg")
	seg, err := shm.CreateFile(path, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	b, err := shm.NewBytes(seg, "data", 32<<10)
	if err != nil {
		t.Fatal(err)
	}
	if err := seg.Check(); err != nil {
		t.Fatalf("Check of an intact segment = %v", err)
	}
	if err := shm.Guard(func() { b[100] = 1 }); err != nil {
		t.Fatalf("Guard of a good access = %v", err)
	}
	if err := os.Truncate(path, 4096); err != nil { // as a hostile process would
		t.Fatal(err)
	}
	if err := seg.Check(); !errors.Is(err, shm.ErrTruncated) {
		t.Fatalf("Check after truncation = %v, want ErrTruncated", err)
	}
	err = shm.Guard(func() { b[len(b)-1] = 1 })
	if !errors.Is(err, shm.ErrTruncated) {
		t.Fatalf("Guard of an access past the new end = %v, want ErrTruncated", err)
	}
	// Other panics are not swallowed.
	defer func() {
		if r := recover(); r != "not a fault" {
			t.Fatalf("recovered %v", r)
		}
	}()
	shm.Guard(func() { panic("not a fault") })
}

// More memory than the machine has: refused at once, not an OOM kill or a
// SIGBUS later.
func TestTooLargeForMemory(t *testing.T) {
	_, err := shm.CreateAnon(1 << 50)
	if !errors.Is(err, shm.ErrNoSpace) || !strings.Contains(err.Error(), "bytes of memory are available") {
		t.Fatalf("CreateAnon of 1 PiB = %v, want ErrNoSpace naming the memory available", err)
	}
}

// A named segment owned by another user is refused.
func TestOtherOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
	name := uniqueName(t)
	seg, err := shm.Create(name, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	seg.Close()
	if err := os.Chown(filepath.Join(shm.Dir, name), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err = shm.Open(name)
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("Open of another user's segment = %v, want fs.ErrPermission naming the owner", err)
	}
}

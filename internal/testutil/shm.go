//go:build linux

package testutil

import (
	"context"
	"fmt"
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

// Segment returns an anonymous segment of size bytes, closed when the test
// ends.
func Segment(tb testing.TB, size int64) *shm.Segment {
	tb.Helper()
	seg, err := shm.CreateAnon(size)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { seg.Close() })
	return seg
}

// Start starts the registered function f in a child process that maps seg,
// with arguments args.
func Start(tb testing.TB, f *spawn.Func, seg *shm.Segment, args ...string) *spawn.Process {
	tb.Helper()
	p, err := f.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}, Args: args})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// StartN starts n children that each run f with seg and args, as Start
// does, one after another.
func StartN(tb testing.TB, n int, f *spawn.Func, seg *shm.Segment, args ...string) []*spawn.Process {
	tb.Helper()
	ps := make([]*spawn.Process, n)
	for i := range ps {
		ps[i] = Start(tb, f, seg, args...)
	}
	return ps
}

// WaitAll waits for each of ps in turn, and fails the test at the first
// that did not succeed.
func WaitAll(tb testing.TB, ps ...*spawn.Process) {
	tb.Helper()
	for _, p := range ps {
		if err := p.Wait(); err != nil {
			tb.Fatal(err)
		}
	}
}

// Overlay creates a raw object called name in seg, zeroed and large enough
// for a T (a whole number of 64-byte lines), and returns it as a *T: plain
// words that a test and its child processes share for handshakes, flags and
// results. T must hold no Go pointers.
func Overlay[T any](tb testing.TB, seg *shm.Segment, name string) *T {
	tb.Helper()
	size := max((int(unsafe.Sizeof(*new(T)))+63)/64*64, 64)
	b, err := shm.NewBytes(seg, name, size)
	if err != nil {
		tb.Fatal(err)
	}
	return (*T)(unsafe.Pointer(&b[0]))
}

// OpenOverlay returns the object called name that Overlay created in seg,
// in this or another process, as a *T.
func OpenOverlay[T any](seg *shm.Segment, name string) (*T, error) {
	b, err := shm.OpenBytes(seg, name)
	if err != nil {
		return nil, err
	}
	if need := unsafe.Sizeof(*new(T)); len(b) == 0 || uintptr(len(b)) < need {
		return nil, fmt.Errorf("testutil: object %q holds %d bytes, a %T needs %d", name, len(b), *new(T), need)
	}
	return (*T)(unsafe.Pointer(&b[0])), nil
}

// ObjectOffset returns the offset in seg of the object called name, as
// seg's directory lists it, for tests that damage the object through the
// segment's file or report offsets.
func ObjectOffset(tb testing.TB, seg *shm.Segment, name string) int64 {
	tb.Helper()
	for _, o := range seg.Objects() {
		if o.Name == name {
			return o.Offset
		}
	}
	tb.Fatalf("no object %q", name)
	return 0
}

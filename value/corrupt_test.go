//go:build linux

package value_test

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/internal/typelayout"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
	"github.com/shmkit/shmkit/value"
)

var ne = binary.NativeEndian

// objectAt returns the raw memory of the object of kind called name and
// its offset in the segment.
func objectAt(t *testing.T, seg *shm.Segment, name string, kind shm.Kind) ([]byte, int64) {
	t.Helper()
	mem, err := seg.Lookup(name, kind)
	if err != nil {
		t.Fatal(err)
	}
	return mem, testutil.ObjectOffset(t, seg, name)
}

// TestCorruptHeader changes one header field per row, as a buggy or hostile
// peer could, and checks that Open reports ErrCorrupt in a *shm.Error that
// names the object, the field and its offset in the segment.
func TestCorruptHeader(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(h []byte)
		field  string
		off    int64 // of the field, from the object's start
		detail string
	}{
		{"unknown form", func(h []byte) { ne.PutUint32(h[typelayout.OffForm:], 77) }, "form", typelayout.OffForm, "form 77"},
		{"zero form", func(h []byte) { ne.PutUint32(h[typelayout.OffForm:], 0) }, "form", typelayout.OffForm, "form 0"},
		{"alignment 3", func(h []byte) { ne.PutUint32(h[typelayout.OffAlign:], 3) }, "align", typelayout.OffAlign, "element alignment 3"},
		{"alignment 64", func(h []byte) { ne.PutUint32(h[typelayout.OffAlign:], 64) }, "align", typelayout.OffAlign, "element alignment 64"},
		{"size not a multiple of alignment", func(h []byte) { ne.PutUint64(h[typelayout.OffSize:], 33) }, "size", typelayout.OffSize, "not a multiple"},
		{"size beyond object", func(h []byte) { ne.PutUint64(h[typelayout.OffSize:], 4096) }, "size", typelayout.OffSize, "a 4096-byte value does not fit in the 200-byte object"},
		{"size overflows", func(h []byte) { ne.PutUint64(h[typelayout.OffSize:], math.MaxUint64-7) }, "size", typelayout.OffSize, "does not fit"},
		{"count", func(h []byte) { ne.PutUint64(h[typelayout.OffCount:], 2) }, "count", typelayout.OffCount, "count 2"},
		{"fingerprint", func(h []byte) { h[typelayout.OffFingerprint+3] ^= 0x10 }, "check", typelayout.OffCheck, "header checksum"},
		{"reserved byte", func(h []byte) { h[40] = 1 }, "check", typelayout.OffCheck, "header checksum"},
		{"checksum", func(h []byte) { h[typelayout.OffCheck] ^= 1 }, "check", typelayout.OffCheck, "header checksum"},
		{"form of another value, checksum not updated", func(h []byte) { ne.PutUint32(h[typelayout.OffForm:], 2) }, "check", typelayout.OffCheck, "header checksum"},
	} {
		t.Run(c.name, func(t *testing.T) {
			seg := testutil.Segment(t, 1<<20)
			v, err := value.New[record](seg, "v")
			if err != nil {
				t.Fatal(err)
			}
			v.Store(makeRecord(1))
			mem, objOff := objectAt(t, seg, "v", shm.KindValue)
			c.mutate(mem[:typelayout.HeaderSize])
			_, err = value.Open[record](seg, "v")
			var se *shm.Error
			if !errors.Is(err, shm.ErrCorrupt) || !errors.As(err, &se) {
				t.Fatalf("Open = %v, want ErrCorrupt in a *shm.Error", err)
			}
			if se.Object != "v" || se.Field != c.field || se.Offset != objOff+c.off || !strings.Contains(err.Error(), c.detail) {
				t.Fatalf("Open = %v (object %q, field %q, offset %d); want object \"v\", field %q at %d, saying %q",
					err, se.Object, se.Field, se.Offset, c.field, objOff+c.off, c.detail)
			}
			// The handle opened before the damage keeps working: it does not
			// read the header again.
			if got := v.Load(); got != makeRecord(1) {
				t.Fatalf("Load = %+v", got)
			}
		})
	}
}

// TestCorruptSequence: a sequence set to the phase no writer writes (3)
// makes readers use slot 0 and the next writer repair; a sequence moved
// back makes readers retry, not hang.
func TestCorruptSequence(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	v, err := value.New[record](seg, "v")
	if err != nil {
		t.Fatal(err)
	}
	v.Store(makeRecord(1))
	mem, _ := objectAt(t, seg, "v", shm.KindValue)
	seq := (*uint64)(unsafe.Pointer(&mem[value.OffSeq]))
	atomic.StoreUint64(seq, 4*1000+3)
	if got := v.Load(); got != makeRecord(1) {
		t.Fatalf("Load = %+v with the sequence in phase 3", got)
	}
	v.Store(makeRecord(2))
	if s := value.Seq(v); s != 4*1001+4 {
		t.Fatalf("sequence %d after a Store from phase 3, want %d", s, 4*1001+4)
	}
	if got := v.Load(); got != makeRecord(2) {
		t.Fatalf("Load = %+v after the repairing Store", got)
	}
	// Garbage in the lock word: a holder that does not exist, taken over.
	ne.PutUint64(mem[value.OffLock:], 0x3fff_fff0_0000_0001)
	v.Store(makeRecord(3))
	if got := v.Load(); got != makeRecord(3) {
		t.Fatalf("Load = %+v after a Store over a garbage lock word", got)
	}
}

// TestUnstableSequence: a sequence that changes during every read attempt
// (a peer writing between the copy and the check, every time) makes Load
// read under the lock after SeqTries attempts, and return the value.
func TestUnstableSequence(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	v, err := value.New[record](seg, "v")
	if err != nil {
		t.Fatal(err)
	}
	v.Store(makeRecord(7))
	mem, _ := objectAt(t, seg, "v", shm.KindValue)
	seq := (*uint64)(unsafe.Pointer(&mem[value.OffSeq]))
	attempts := 0
	value.SetReadHook(func() {
		attempts++
		atomic.AddUint64(seq, 4) // phase 0 throughout: both slots stay good
	})
	defer value.SetReadHook(nil)
	if got := v.Load(); got != makeRecord(7) {
		t.Fatalf("Load = %+v", got)
	}
	if attempts != value.SeqTries || value.Fallbacks(v) != 1 {
		t.Fatalf("%d lock-free attempts and %d reads under the lock; want %d and 1", attempts, value.Fallbacks(v), value.SeqTries)
	}
}

// childSpinSeq changes the sequence of "v" without the lock, as fast as it
// can, until told to stop.
var childSpinSeq = spawn.Register("TestScribbledSequence", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	sh, err := openShared(seg)
	if err != nil {
		return err
	}
	mem, err := seg.Lookup("v", shm.KindValue)
	if err != nil {
		return err
	}
	seq := (*uint64)(unsafe.Pointer(&mem[value.OffSeq]))
	atomic.StoreUint32(&sh.flag, 1)
	for atomic.LoadUint32(&sh.stop) == 0 {
		for range 64 {
			atomic.AddUint64(seq, 4) // phase 0 throughout: both slots stay good
		}
	}
	return nil
})

// TestScribbledSequence: with another process changing the sequence without
// pause, every Load returns, with the value. How many reads retry, or fall
// back to the lock, depends on the scheduler; the test logs it.
func TestScribbledSequence(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	v, err := value.New[record](seg, "v")
	if err != nil {
		t.Fatal(err)
	}
	v.Store(makeRecord(7))
	sh := newShared(t, seg)
	p := testutil.Start(t, childSpinSeq, seg)
	testutil.WaitFor(t, testutil.Timeout, "the scribbler to start", func() bool { return atomic.LoadUint32(&sh.flag) == 1 })
	n := testutil.Size(200_000, 10)
	t0 := time.Now()
	for range n {
		if got := v.Load(); got != makeRecord(7) {
			atomic.StoreUint32(&sh.stop, 1)
			t.Fatalf("Load = %+v", got)
		}
	}
	d := time.Since(t0)
	atomic.StoreUint32(&sh.stop, 1)
	testutil.WaitAll(t, p)
	t.Logf("%d Loads in %v against a scribbled sequence, %d under the lock", n, d, value.Fallbacks(v))
}

//go:build linux

package semaphore_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/internal/holders"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

// boundary32 are the 32-bit values at the edges of a semaphore's range.
var boundary32 = [...]uint32{0, 1, 2, semaphore.MaxValue, semaphore.MaxValue + 1, 1<<32 - 1}

// peerWord returns a word a buggy or hostile peer writes (see
// testutil.HolderWord).
func peerWord(o *testutil.FuzzInput) uint64 { return testutil.HolderWord(o, boundary32[:]) }

// semFuzz is one run of FuzzSemaphoreHostile: a counting semaphore "s"
// and a bounded one "b", a handle on each, what each handle learnt when it
// was made (bounded or not, the bound), and the objects' memory.
type semFuzz struct {
	t       *testing.T
	seg     *shm.Segment
	names   [2]string
	h       [2]*semaphore.Semaphore
	bounded [2]bool
	initial [2]uint32
	mem     [2][]byte
	tiny    int // tiny-deadline contexts left (testutil.FuzzContext)
}

func (z *semFuzz) word(i, off int) *uint32 { return (*uint32)(unsafe.Pointer(&z.mem[i][off])) }
func (z *semFuzz) value(i int) uint32      { return atomic.LoadUint32(z.word(i, semaphore.OffValue)) }
func (z *semFuzz) overflow(i int) uint32   { return atomic.LoadUint32(z.word(i, semaphore.OffOverflow)) }

// units returns the holder table of object i as a handle of either kind
// sees it: a counting object has none, and a counting handle uses none.
func (z *semFuzz) units(i int) testutil.Holders {
	if !z.bounded[i] {
		return testutil.Holders{}
	}
	return testutil.ReadHolders(z.mem[i], semaphore.OffHolders)
}

// FuzzSemaphoreHostile drives a counting and a bounded semaphore while a
// "peer" writes arbitrary words into their memory between operations:
// Value, units, flags, bound, overflow count and holder slots. Every
// operation must give the answer the words it found call for, or the
// error they call for (ErrOverRelease, shm.ErrCorrupt naming the object,
// ctx.Err()); never panic or block past its context.
func FuzzSemaphoreHostile(f *testing.F) {
	f.Add([]byte{1, 2, 2, 0, 2, 0, 4, 0, 4, 0, 4, 0, 3, 0, 3, 1, 2, 1, 4, 1, 4, 1, 4, 1})                               // take and give back until over-released
	f.Add([]byte{0, 0, 3, 0, 133, 0, 133, 1, 4, 0, 5, 1, 6, 1})                                                         // Acquire on empty semaphores, with deadlines
	f.Add([]byte{3, 3, 7, 0, 0, 3, 4, 0, 7, 0, 0, 4, 4, 0, 6, 0, 5, 0})                                                 // the peer writes Value = MaxValue, then MaxValue+1
	f.Add([]byte{2, 2, 7, 1, 2, 2, 6, 1, 7, 1, 2, 0, 7, 1, 3, 4, 6, 1, 7, 1, 3, 1, 7, 1, 2, 1, 7, 1, 0, 2, 6, 1, 4, 1}) // flags 2; bound above MaxValue; value above the bound
	f.Add([]byte{2, 1, 1, 1, 4, 3, 255, 2, 1, 2, 1, 4, 1, 4, 1})                                                        // this process's slots full: overflow
	f.Add([]byte{0, 2, 1, 1, 6, 0, 1, 2, 1, 2, 1, 2, 1, 3, 1})                                                          // every slot names a dead process: reaped
	f.Add([]byte{1, 0, 7, 0, 2, 1, 6, 0, 2, 0, 4, 0})                                                                   // the counting object made to claim it is bounded
	f.Add([]byte{2, 2, 7, 1, 2, 0, 6, 1, 2, 1, 4, 1, 4, 1})                                                             // the bounded object made counting
	f.Add([]byte{2, 2, 0, 1, 16, 5, 0, 1, 2, 1, 4, 1, 4, 1, 4, 1})                                                      // a stray slot naming pid 1
	f.Add([]byte{1, 1, 7, 1, 4, 5, 4, 1, 2, 1, 3, 1})                                                                   // overflow count at its maximum
	all := []byte{3, 3}
	for i := 0; i < 2; i++ {
		for off := 0; off < 150; off++ {
			all = append(all, 0, byte(i), byte(off), 2)
		}
	}
	f.Add(append(all, 2, 0, 2, 1, 3, 0, 3, 1, 4, 0, 4, 1, 5, 0, 5, 1, 6, 0, 6, 1))
	f.Fuzz(func(t *testing.T, in []byte) {
		seg := testutil.Segment(t, 1<<16)
		var err error
		o := testutil.NewFuzzInput(in)
		z := &semFuzz{t: t, seg: seg, names: [2]string{"s", "b"}, tiny: testutil.TinyWaits}
		for i, bounded := range []bool{false, true} {
			z.initial[i], z.bounded[i] = uint32(o.Byte()%4), bounded
			if bounded {
				z.h[i], err = semaphore.NewBounded(seg, z.names[i], int(z.initial[i]))
			} else {
				z.h[i], err = semaphore.New(seg, z.names[i], int(z.initial[i]))
			}
			if err != nil {
				t.Fatal(err)
			}
			z.mem[i], _ = seg.Lookup(z.names[i], shm.KindSemaphore)
		}
		for o.More() {
			op := o.Byte()
			i := o.Byte() % 2
			waiters := atomic.LoadUint32(z.word(i, semaphore.OffWaiters))
			switch op % 10 {
			case 0, 8, 9:
				testutil.Scribble(o, z.mem[i], peerWord)
			case 1:
				testutil.FillTable(o, z.mem[1], semaphore.OffHolders, peerWord)
			case 2:
				z.tryAcquire(i)
			case 3:
				z.acquire(i, op)
			case 4:
				z.release(i)
			case 5:
				if got, want := z.h[i].Value(), int(z.value(i)); got != want {
					t.Fatalf("%s: Value = %d, the word holds %d", z.names[i], got, want)
				}
			case 6:
				z.open(i)
			case 7:
				// The peer writes one field of the first cache line:
				// Value, Waiters, Flags, Initial or Overflow.
				field := o.Byte() % 5 * 4
				atomic.StoreUint32(z.word(i, field), boundary32[o.Byte()%len(boundary32)])
				continue
			}
			if op%10 >= 2 && op%10 <= 6 && atomic.LoadUint32(z.word(i, semaphore.OffWaiters)) != waiters {
				t.Fatalf("%s: operation %d changed Waiters from %d to %d", z.names[i], op%10, waiters, atomic.LoadUint32(z.word(i, semaphore.OffWaiters)))
			}
		}
	})
}

// checkRecorded fails the test unless a unit taken by a bounded handle
// was recorded: in this process's slot if the table had room, else in the
// overflow count.
func (z *semFuzz) checkRecorded(i int, before testutil.Holders, overflow uint32) {
	z.t.Helper()
	if !z.bounded[i] {
		return
	}
	after, o2 := z.units(i), z.overflow(i)
	switch {
	case before.Room && (after.Ours != before.Ours+1 || o2 != overflow):
		z.t.Fatalf("%s: a unit taken with room in the table: holds %d → %d, overflow %d → %d", z.names[i], before.Ours, after.Ours, overflow, o2)
	case !before.Room && (after.Ours != before.Ours || o2 != overflow+1):
		z.t.Fatalf("%s: a unit taken with a full table: holds %d → %d, overflow %d → %d", z.names[i], before.Ours, after.Ours, overflow, o2)
	}
}

func (z *semFuzz) tryAcquire(i int) {
	v, tb, ov := z.value(i), z.units(i), z.overflow(i)
	got := z.h[i].TryAcquire()
	after := z.value(i)
	switch {
	case v != 0:
		if !got || after != v-1 {
			z.t.Fatalf("%s: TryAcquire of value %d = %v, value now %d", z.names[i], v, got, after)
		}
		z.checkRecorded(i, tb, ov)
	case !z.bounded[i] && (got || after != 0):
		z.t.Fatalf("%s: TryAcquire of value 0 = %v, value now %d", z.names[i], got, after)
	case z.bounded[i] && !got && after != 0, z.bounded[i] && got && after >= z.initial[i]:
		// Units given back by dead holders never raise the value above
		// the bound.
		z.t.Fatalf("%s: TryAcquire of value 0 with bound %d = %v, value now %d", z.names[i], z.initial[i], got, after)
	}
}

func (z *semFuzz) acquire(i, op int) {
	ctx, cancel := testutil.FuzzContext(op, &z.tiny)
	defer cancel()
	v, tb, ov := z.value(i), z.units(i), z.overflow(i)
	err := z.h[i].Acquire(ctx)
	after := z.value(i)
	if v != 0 {
		if err != nil || after != v-1 {
			z.t.Fatalf("%s: Acquire of value %d = %v, value now %d", z.names[i], v, err, after)
		}
		z.checkRecorded(i, tb, ov)
		return
	}
	if z.bounded[i] && err == nil && after < z.initial[i] {
		return // woken before ctx ended, it gave back the units of dead holders
	}
	if !testutil.IsCtxErr(ctx, err) || after != 0 {
		z.t.Fatalf("%s: Acquire of value 0 = %v, value now %d; want %v", z.names[i], err, after, ctx.Err())
	}
}

func (z *semFuzz) release(i int) {
	v, tb, ov := z.value(i), z.units(i), z.overflow(i)
	err := z.h[i].Release()
	after := z.value(i)
	bound := uint32(semaphore.MaxValue)
	if z.bounded[i] {
		bound = z.initial[i]
	}
	switch {
	case v > bound && z.bounded[i]:
		if !z.corrupt(i, err) || after != v {
			z.t.Fatalf("%s: Release of value %d above bound %d = %v, value now %d; want ErrCorrupt", z.names[i], v, bound, err, after)
		}
	case v >= bound:
		if !errors.Is(err, semaphore.ErrOverRelease) || after != v {
			z.t.Fatalf("%s: Release of value %d at bound %d = %v, value now %d; want ErrOverRelease", z.names[i], v, bound, err, after)
		}
	default:
		if err != nil || after != v+1 {
			z.t.Fatalf("%s: Release of value %d, bound %d = %v, value now %d", z.names[i], v, bound, err, after)
		}
	}
	if !z.bounded[i] {
		return
	}
	// The record of one unit goes first: this process's, else one
	// overflowed.
	t2, o2 := z.units(i), z.overflow(i)
	switch {
	case tb.Held && (t2.Ours != tb.Ours-1 || o2 != ov):
		z.t.Fatalf("%s: Release with %d units recorded here: %d now, overflow %d → %d", z.names[i], tb.Ours, t2.Ours, ov, o2)
	case !tb.Held && ov != 0 && o2 != ov-1:
		z.t.Fatalf("%s: Release with overflow %d and none recorded here: overflow now %d", z.names[i], ov, o2)
	}
}

// corrupt reports whether err is shm.ErrCorrupt in an *shm.Error naming
// object i.
func (z *semFuzz) corrupt(i int, err error) bool {
	var se *shm.Error
	return errors.Is(err, shm.ErrCorrupt) && errors.As(err, &se) && se.Object == z.names[i]
}

func (z *semFuzz) open(i int) {
	flags := atomic.LoadUint32(z.word(i, semaphore.OffFlags))
	initial := atomic.LoadUint32(z.word(i, semaphore.OffInitial))
	v := z.value(i)
	bounded := flags == 1
	bad := flags > 1 || bounded && len(z.mem[i]) < semaphore.OffHolders+holders.Size ||
		initial > semaphore.MaxValue || v > semaphore.MaxValue || bounded && v > initial
	s, err := semaphore.Open(z.seg, z.names[i])
	switch {
	case bad:
		if !z.corrupt(i, err) {
			z.t.Fatalf("%s: Open with flags %d, initial %d, value %d = %v; want ErrCorrupt", z.names[i], flags, initial, v, err)
		}
	case err != nil:
		z.t.Fatalf("%s: Open with flags %d, initial %d, value %d = %v", z.names[i], flags, initial, v, err)
	default:
		z.h[i], z.bounded[i], z.initial[i] = s, bounded, initial
	}
}

//go:build linux

package event_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/event"
	"github.com/shmkit/shmkit/internal/holders"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/shm"
)

// boundary32 are 32-bit values at the edges of the fields' ranges: counts,
// parties, and a barrier's Seq with its broken bit or a high round.
var boundary32 = [...]uint32{0, 1, 2, 3, event.MaxParties, event.MaxParties + 1, 1<<32 - 1, 0x8000, 0xffff0000}

// peerWord returns a word a buggy or hostile peer writes (see
// testutil.HolderWord).
func peerWord(o *testutil.FuzzInput) uint64 { return testutil.HolderWord(o, boundary32[:]) }

// eventFuzz is one run of FuzzEventHostile: an Event "e" and a Barrier
// "b", a handle on each, and their memory.
type eventFuzz struct {
	t          *testing.T
	seg        *shm.Segment
	e          *event.Event
	b          *event.Barrier
	eMem, bMem []byte
	tiny       int // tiny-deadline contexts left (testutil.FuzzContext)
}

func (z *eventFuzz) state() uint32     { return atomic.LoadUint32(z.u32(z.eMem, event.OffEvState)) }
func (z *eventFuzz) evWaiters() uint32 { return atomic.LoadUint32(z.u32(z.eMem, event.OffEvWaiters)) }
func (z *eventFuzz) barState() uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&z.bMem[event.OffBarCount])))
}
func (z *eventFuzz) barWaiters() uint32 { return atomic.LoadUint32(z.u32(z.bMem, event.OffBarWaiters)) }

func (z *eventFuzz) u32(mem []byte, off int) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }

// FuzzEventHostile drives an Event and a Barrier while a "peer" writes
// arbitrary words into their memory between operations: the Event's State
// and Waiters, the Barrier's Count, Seq, Parties, Waiters and party slots.
// Every operation must give the answer the words it found call for (read
// beforehand through the words and the Barrier's snapshots), or the error
// they call for (ErrBroken, shm.ErrCorrupt naming the object, ctx.Err());
// never panic or block past its context.
func FuzzEventHostile(f *testing.F) {
	f.Add([]byte{1, 5, 2, 4, 5, 3, 4, 5, 131, 2, 131, 6})                     // Event: Wait, Set, Wait, Clear, Wait with a deadline
	f.Add([]byte{2, 7, 7, 7, 7, 8, 7, 9, 7, 7})                               // two parties: rounds, an ended context breaks one, Abort, Reset
	f.Add([]byte{0, 7, 133, 9, 7, 11, 7})                                     // one party: every Wait completes a round
	f.Add([]byte{2, 12, 0, 4, 7, 10, 12, 0, 6, 7, 9, 7})                      // Count at or above Parties: ErrCorrupt
	f.Add([]byte{2, 12, 2, 0, 10, 12, 2, 5, 10, 12, 2, 4, 10, 7})             // Parties 0, above MaxParties, MaxParties
	f.Add([]byte{3, 12, 1, 7, 7, 12, 1, 8, 7, 9, 7})                          // the broken bit and a high round written into Seq
	f.Add([]byte{2, 1, 7, 1, 7, 7, 7, 11, 1, 5, 0, 1, 7, 7})                  // party slots: dead and arriving, then pid 1
	f.Add([]byte{1, 0, 0, 0, 2, 2, 4, 5, 3, 2, 0, 0, 0, 3, 5, 0, 0, 1, 6, 5}) // the peer writes State: all ones, this process, Waiters
	f.Add([]byte{2, 12, 3, 6, 7, 8, 12, 3, 0, 9, 7, 7})                       // Waiters all ones
	all := []byte{2}
	for obj := 0; obj < 2; obj++ {
		for off := 0; off < 150; off++ {
			all = append(all, 0, byte(obj), byte(off), 2)
		}
	}
	f.Add(append(all, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 7, 7))
	f.Fuzz(func(t *testing.T, in []byte) {
		seg := testutil.Segment(t, 1<<16)
		var err error
		o := testutil.NewFuzzInput(in)
		z := &eventFuzz{t: t, seg: seg, tiny: testutil.TinyWaits}
		if z.e, err = event.New(seg, "e"); err != nil {
			t.Fatal(err)
		}
		if z.b, err = event.NewBarrier(seg, "b", 1+o.Byte()%4); err != nil {
			t.Fatal(err)
		}
		z.eMem, _ = seg.Lookup("e", shm.KindEvent)
		z.bMem, _ = seg.Lookup("b", shm.KindBarrier)
		for o.More() {
			op := o.Byte()
			switch op % 14 {
			case 0, 13:
				testutil.Scribble(o, [][]byte{z.eMem, z.bMem}[o.Byte()%2], peerWord)
			case 1:
				testutil.FillTable(o, z.bMem, event.OffBarMembers, peerWord)
			case 2:
				z.set()
			case 3:
				v := z.state()
				z.e.Clear()
				if got := z.state(); got != v&^1 {
					t.Fatalf("Clear of State %#x left %#x", v, got)
				}
			case 4:
				if got, want := z.e.IsSet(), z.state()&1 != 0; got != want {
					t.Fatalf("IsSet of State %#x = %v", z.state(), got)
				}
			case 5:
				z.wait(op)
			case 6:
				e, err := event.Open(seg, "e")
				if err != nil {
					t.Fatalf("Open = %v", err)
				}
				z.e = e
			case 7:
				z.barrierWait(op)
			case 8:
				n := z.b.Waiting()
				z.b.Abort()
				if !z.b.Broken() || z.b.Waiting() != n {
					t.Fatalf("Abort with %d waiting: broken %v, %d waiting", n, z.b.Broken(), z.b.Waiting())
				}
			case 9:
				z.b.Reset()
				if z.b.Broken() || z.b.Waiting() != 0 {
					t.Fatalf("Reset: broken %v, %d waiting", z.b.Broken(), z.b.Waiting())
				}
			case 10:
				z.openBarrier()
			case 11:
				z.b.Leave()
				for i := 0; i < holders.Slots; i++ {
					if v := atomic.LoadUint64((*uint64)(unsafe.Pointer(&z.bMem[event.OffBarMembers+holders.Offset(i)]))); holders.Tag(v) == testutil.SelfTag {
						t.Fatalf("Leave left slot %d = %#x", i, v)
					}
				}
			case 12:
				// The peer writes one field of the Barrier's first cache
				// line: Count, Seq, Parties or Waiters.
				field := o.Byte() % 4 * 4
				atomic.StoreUint32(z.u32(z.bMem, field), boundary32[o.Byte()%len(boundary32)])
			}
		}
	})
}

func (z *eventFuzz) set() {
	v := z.state()
	z.e.Set()
	want := v
	if v&1 == 0 {
		want = (v + 2) | 1 // a new Set count, and the flag
	}
	if got := z.state(); got != want {
		z.t.Fatalf("Set of State %#x left %#x, want %#x", v, got, want)
	}
}

func (z *eventFuzz) wait(op int) {
	ctx, cancel := testutil.FuzzContext(op, &z.tiny)
	defer cancel()
	v, w := z.state(), z.evWaiters()
	err := z.e.Wait(ctx)
	if v&1 != 0 && err != nil || v&1 == 0 && !testutil.IsCtxErr(ctx, err) {
		z.t.Fatalf("Wait on State %#x = %v", v, err)
	}
	if z.state() != v || z.evWaiters() != w {
		z.t.Fatalf("Wait changed State %#x → %#x, Waiters %d → %d", v, z.state(), w, z.evWaiters())
	}
}

func (z *eventFuzz) barrierWait(op int) {
	ctx, cancel := testutil.FuzzContext(op, &z.tiny)
	defer cancel()
	v, w := z.barState(), z.barWaiters()
	broken, n, parties := z.b.Broken(), z.b.Waiting(), z.b.Parties()
	i, err := z.b.Wait(ctx)
	var se *shm.Error
	switch {
	case broken:
		if i != -1 || !errors.Is(err, event.ErrBroken) || z.barState() != v {
			z.t.Fatalf("Wait on a broken barrier = %d, %v; state %#x → %#x", i, err, v, z.barState())
		}
	case n >= parties:
		// More arrivals than parties: only a peer writes that.
		if i != -1 || !errors.Is(err, shm.ErrCorrupt) || !errors.As(err, &se) || se.Object != "b" || z.barState() != v {
			z.t.Fatalf("Wait with %d arrivals for %d parties = %d, %v; want ErrCorrupt naming \"b\"", n, parties, i, err)
		}
	case n+1 == parties:
		// This arrival completes the round.
		if i != n || err != nil || z.b.Broken() || z.b.Waiting() != 0 {
			z.t.Fatalf("the last of %d parties: Wait = %d, %v; then broken %v, %d waiting", parties, i, err, z.b.Broken(), z.b.Waiting())
		}
	default:
		// This arrival waits in vain; when ctx ends it breaks the round.
		if i != -1 || !testutil.IsCtxErr(ctx, err) || !z.b.Broken() || z.b.Waiting() != n+1 {
			z.t.Fatalf("arrival %d of %d parties: Wait = %d, %v; then broken %v, %d waiting; want %v", n, parties, i, err, z.b.Broken(), z.b.Waiting(), ctx.Err())
		}
	}
	if z.barWaiters() != w {
		z.t.Fatalf("Barrier.Wait changed Waiters %d → %d", w, z.barWaiters())
	}
}

func (z *eventFuzz) openBarrier() {
	p := atomic.LoadUint32(z.u32(z.bMem, event.OffBarParties))
	b, err := event.OpenBarrier(z.seg, "b")
	var se *shm.Error
	switch {
	case p < 1 || p > event.MaxParties:
		if !errors.Is(err, shm.ErrCorrupt) || !errors.As(err, &se) || se.Object != "b" {
			z.t.Fatalf("OpenBarrier with %d parties = %v; want ErrCorrupt naming \"b\"", p, err)
		}
	case err != nil || b.Parties() != int(p):
		z.t.Fatalf("OpenBarrier with %d parties = %v", p, err)
	default:
		z.b = b
	}
}

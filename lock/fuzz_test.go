//go:build linux

package lock_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/internal/holders"
	"github.com/shmkit/shmkit/internal/proc"
	"github.com/shmkit/shmkit/internal/robust"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
)

// peerWord returns a word a buggy or hostile peer writes: arbitrary bytes
// from the input, a boundary value, or a lock word or holder slot that
// names a live or dead process.
func peerWord(o *testutil.FuzzInput) uint64 {
	low := func() uint64 { return uint64(o.Byte()<<8|o.Byte()) & holders.LowMask }
	switch o.Byte() % 12 {
	case 0:
		return o.U64()
	case 1:
		return 0
	case 2:
		return ^uint64(0)
	case 3:
		return uint64(testutil.SelfID)
	case 4:
		return uint64(testutil.SelfID) | robust.W
	case 5:
		return uint64(testutil.Pid1ID)
	case 6:
		return uint64(testutil.DeadID)
	case 7:
		return robust.W // a waiter bit and no holder
	case 8:
		return holders.Pack(testutil.SelfID, low())
	case 9:
		return holders.Pack(testutil.Pid1ID, low())
	case 10:
		return holders.Pack(testutil.DeadID, low())
	default:
		bounds := [...]uint64{1, 1<<31 - 1, 1 << 31, 1<<32 - 1}
		return bounds[o.Byte()%4] | bounds[o.Byte()%4]<<32
	}
}

// deadSlots counts the slots of a holder table that name a dead process.
func deadSlots(mem []byte, off int) int {
	n := 0
	for i := 0; i < holders.Slots; i++ {
		v := atomic.LoadUint64((*uint64)(unsafe.Pointer(&mem[off+holders.Offset(i)])))
		if v != 0 && holders.Tag(v) != testutil.SelfTag && !proc.Alive(holders.Owner(v)) {
			n++
		}
	}
	return n
}

// holder returns the identity a robust lock word names, without its
// waiter bit.
func holder(v uint64) proc.Identity { return proc.Identity(v &^ robust.W) }

// unlockPanic is what Unlock of a robust lock word v panics with (part of
// the message), or "" when it frees the lock: it refuses a free lock and one
// that a live process other than this one holds, and frees one that names
// this process or no live process.
func unlockPanic(v uint64) string {
	switch h := holder(v); {
	case v == 0:
		return "unlock of unlocked mutex"
	case h != testutil.SelfID && proc.Alive(h):
		return "held by another process"
	}
	return ""
}

// lockFuzz is one run of FuzzLockHostile: the handles, the objects' memory
// and the words the checks read.
type lockFuzz struct {
	t   *testing.T
	seg *shm.Segment
	m   *lock.Mutex
	rw  *lock.RWMutex
	c   *lock.Cond

	mMem, rwMem, cMem   []byte
	mWord, writer       *uint64
	state, seq, waiters *uint32
	tiny                int // tiny-deadline contexts left (testutil.FuzzContext)
}

// FuzzLockHostile drives a Mutex, an RWMutex and a Cond with the operations
// of one process while a "peer" writes arbitrary words into their memory
// between operations. Each operation must give the answer the memory it
// found calls for (read from the words beforehand), return ctx.Err() or
// ErrOwnerDead where those are due, and panic only where the documentation
// says it does: Unlock of a free lock or of one a live process other than
// this one holds, RUnlock without a read hold, Cond.Wait without the Mutex.
// Blocking calls get an ended context or one of testutil.TinyWait, so a hang
// is a fuzz timeout.
func FuzzLockHostile(f *testing.F) {
	f.Add([]byte{2, 4, 2, 5, 6, 0, 4})                     // TryLock, Unlock, TryLock, Wait, Signal, Unlock
	f.Add([]byte{0, 0, 0, 3, 4, 4})                        // the peer writes this process into m; Unlock frees it; Unlock panics
	f.Add([]byte{0, 0, 0, 5, 4, 3, 131, 14})               // pid 1 holds m: Unlock panics, LockContext times out
	f.Add([]byte{0, 0, 0, 7, 3, 14, 4})                    // a waiter bit alone: LockContext takes over (ErrOwnerDead)
	f.Add([]byte{0, 0, 0, 6, 4, 2, 5, 4})                  // a dead holder: Unlock frees it
	f.Add([]byte{0, 0, 1, 2, 2, 4, 3})                     // all ones across m's word, misaligned
	f.Add([]byte{7, 7, 9, 9, 9})                           // read holds, one RUnlock too many
	f.Add([]byte{10, 12, 12, 11, 8, 136, 12})              // write lock: Unlock twice; readers wait on it
	f.Add([]byte{1, 9, 0, 1, 8, 1, 10, 0, 1, 8, 9})        // reader table full of pid 1, then of the dead
	f.Add([]byte{1, 8, 3, 255, 7, 8, 136, 9})              // this process's slots full
	f.Add([]byte{0, 1, 2, 11, 0, 0, 8, 9, 10, 11, 12})     // State says a writer died
	f.Add([]byte{0, 1, 0, 4, 11, 139, 12, 0, 1, 16, 6, 9}) // writer word scribbled; a stray reader slot
	f.Add([]byte{0, 2, 1, 2, 6, 1, 5, 2, 5, 4, 13})        // Cond's waiter count scribbled, Broadcast, Wait
	f.Add([]byte{2, 0, 0, 0, 7, 5, 133, 4, 13, 2, 4})      // a waiter bit alone: Wait panics, Unlock frees it
	all := []byte{}
	for obj := 0; obj < 3; obj++ {
		for off := 0; off < 150; off += 2 {
			all = append(all, 0, byte(obj), byte(off), 2)
		}
	}
	f.Add(append(all, 2, 3, 4, 5, 6, 1, 7, 8, 9, 10, 11, 12, 13, 14))
	f.Fuzz(func(t *testing.T, in []byte) {
		seg := testutil.Segment(t, 1<<16)
		var err error
		z := &lockFuzz{t: t, seg: seg}
		if z.m, err = lock.NewMutex(seg, "m"); err != nil {
			t.Fatal(err)
		}
		if z.rw, err = lock.NewRWMutex(seg, "rw"); err != nil {
			t.Fatal(err)
		}
		if z.c, err = lock.NewCond(seg, "c", z.m); err != nil {
			t.Fatal(err)
		}
		z.mMem, _ = seg.Lookup("m", shm.KindMutex)
		z.rwMem, _ = seg.Lookup("rw", shm.KindRWMutex)
		z.cMem, _ = seg.Lookup("c", shm.KindCond)
		z.mWord = (*uint64)(unsafe.Pointer(&z.mMem[0]))
		z.writer = (*uint64)(unsafe.Pointer(&z.rwMem[lock.OffRWWriter]))
		z.state = (*uint32)(unsafe.Pointer(&z.rwMem[lock.OffRWState]))
		z.seq = (*uint32)(unsafe.Pointer(&z.cMem[lock.OffCondSeq]))
		z.waiters = (*uint32)(unsafe.Pointer(&z.cMem[lock.OffCondWaiters]))
		o := testutil.NewFuzzInput(in)
		for o.More() {
			op := o.Byte()
			switch op % 16 {
			case 0, 15:
				testutil.Scribble(o, [][]byte{z.mMem, z.rwMem, z.cMem}[o.Byte()%3], peerWord)
			case 1:
				testutil.FillTable(o, z.rwMem, lock.OffRWReaders, peerWord)
			case 2:
				z.tryLock()
			case 3:
				z.lockContext(op)
			case 4:
				z.unlock()
			case 5:
				z.wait(op)
			case 6:
				z.signal(o.Byte()%2 == 1)
			case 7:
				z.tryRLock()
			case 8:
				z.rlockContext(op)
			case 9:
				z.runlock()
			case 10:
				z.rwTryLock()
			case 11:
				z.rwLockContext(op)
			case 12:
				z.rwUnlock()
			case 13:
				z.open()
			case 14:
				if got, want := z.m.Holder(), holder(atomic.LoadUint64(z.mWord)).Pid(); got != want {
					t.Fatalf("Holder = %d, the word names pid %d", got, want)
				}
			}
		}
	})
}

func (z *lockFuzz) tryLock() {
	v := atomic.LoadUint64(z.mWord)
	got := z.m.TryLock()
	if got != (v == 0) {
		z.t.Fatalf("TryLock on word %#x = %v", v, got)
	}
	if after := atomic.LoadUint64(z.mWord); got && after != uint64(testutil.SelfID) || !got && after != v {
		z.t.Fatalf("TryLock on word %#x = %v left %#x", v, got, after)
	}
}

func (z *lockFuzz) lockContext(op int) {
	ctx, cancel := testutil.FuzzContext(op, &z.tiny)
	defer cancel()
	v := atomic.LoadUint64(z.mWord)
	err := z.m.LockContext(ctx)
	after := holder(atomic.LoadUint64(z.mWord))
	switch {
	case v == 0:
		// A free lock is taken at once.
		if err != nil || after != testutil.SelfID {
			z.t.Fatalf("LockContext of a free Mutex = %v, holder %#x", err, after)
		}
	case holder(v) == 0:
		// A waiter bit and no holder: a holder that died.
		if !errors.Is(err, lock.ErrOwnerDead) || after != testutil.SelfID {
			z.t.Fatalf("LockContext on word %#x = %v, holder %#x; want ErrOwnerDead, this process", v, err, after)
		}
	default:
		// A holder, alive or not, is waited for: a dead one is noticed
		// only after robust.CheckPeriod.
		if !testutil.IsCtxErr(ctx, err) || after != holder(v) {
			z.t.Fatalf("LockContext on word %#x = %v, holder %#x; want %v, holder unchanged", v, err, after, ctx.Err())
		}
	}
}

func (z *lockFuzz) unlock() {
	v := atomic.LoadUint64(z.mWord)
	want := unlockPanic(v)
	msg, panicked := testutil.Catch(z.m.Unlock)
	z.checkPanic("Mutex.Unlock", v, want, msg, panicked)
	after := atomic.LoadUint64(z.mWord)
	if !panicked && after != 0 || panicked && after != v {
		z.t.Fatalf("Unlock on word %#x (panicked %v) left %#x", v, panicked, after)
	}
}

// checkPanic fails the test unless an operation on word v panicked as
// want says (a part of the message; "" for no panic).
func (z *lockFuzz) checkPanic(what string, v uint64, want, msg string, panicked bool) {
	z.t.Helper()
	switch {
	case want == "" && panicked:
		z.t.Fatalf("%s on %#x panicked: %s", what, v, msg)
	case want != "" && !panicked:
		z.t.Fatalf("%s on %#x did not panic; want a panic saying %q", what, v, want)
	case want != "" && !strings.Contains(msg, want):
		z.t.Fatalf("%s on %#x panicked with %q; want %q", what, v, msg, want)
	}
}

func (z *lockFuzz) wait(op int) {
	ctx, cancel := testutil.FuzzContext(op, &z.tiny)
	defer cancel()
	v := atomic.LoadUint64(z.mWord)
	seq, waiters := atomic.LoadUint32(z.seq), atomic.LoadUint32(z.waiters)
	want := ""
	if holder(v) != testutil.SelfID {
		want = "Cond.Wait by a process that does not hold the mutex"
	}
	var err error
	msg, panicked := testutil.Catch(func() { err = z.c.Wait(ctx) })
	z.checkPanic("Cond.Wait", v, want, msg, panicked)
	after := atomic.LoadUint64(z.mWord)
	switch {
	case panicked && after != v:
		z.t.Fatalf("a refused Wait changed the Mutex word from %#x to %#x", v, after)
	case !panicked && (!testutil.IsCtxErr(ctx, err) || after != uint64(testutil.SelfID)):
		z.t.Fatalf("Wait = %v, Mutex word %#x; want %v, held", err, after, ctx.Err())
	case atomic.LoadUint32(z.seq) != seq || atomic.LoadUint32(z.waiters) != waiters:
		z.t.Fatalf("Wait changed Seq %d → %d, Waiters %d → %d", seq, atomic.LoadUint32(z.seq), waiters, atomic.LoadUint32(z.waiters))
	}
}

func (z *lockFuzz) signal(all bool) {
	seq, waiters := atomic.LoadUint32(z.seq), atomic.LoadUint32(z.waiters)
	if all {
		z.c.Broadcast()
	} else {
		z.c.Signal()
	}
	want := seq
	if waiters != 0 {
		want++
	}
	if got := atomic.LoadUint32(z.seq); got != want {
		z.t.Fatalf("Signal/Broadcast with %d waiters moved Seq %d → %d", waiters, seq, got)
	}
}

func (z *lockFuzz) readers() testutil.Holders {
	return testutil.ReadHolders(z.rwMem, lock.OffRWReaders)
}

func (z *lockFuzz) tryRLock() {
	w, tb := atomic.LoadUint64(z.writer), z.readers()
	got := z.rw.TryRLock()
	if want := w == 0 && tb.Room; got != want {
		z.t.Fatalf("TryRLock with writer %#x, table %+v = %v", w, tb, got)
	}
	z.checkHolds("TryRLock", tb, got)
}

// checkHolds fails the test unless this process's read holds went up by
// one when added says so, and are unchanged otherwise.
func (z *lockFuzz) checkHolds(what string, before testutil.Holders, added bool) {
	z.t.Helper()
	want := before.Ours
	if added {
		want++
	}
	if got := z.readers().Ours; got != want {
		z.t.Fatalf("%s (hold added: %v): %d holds of this process, want %d", what, added, got, want)
	}
}

func (z *lockFuzz) rlockContext(op int) {
	ctx, cancel := testutil.FuzzContext(op, &z.tiny)
	defer cancel()
	w, st, tb := atomic.LoadUint64(z.writer), atomic.LoadUint32(z.state), z.readers()
	dead := 0
	if holder(w) == 0 && !tb.Room {
		dead = deadSlots(z.rwMem, lock.OffRWReaders) // freed before a slot is waited for
	}
	err := z.rw.RLockContext(ctx)
	switch {
	case holder(w) != 0:
		// A writer, alive or not, is waited for.
		if !testutil.IsCtxErr(ctx, err) || holder(atomic.LoadUint64(z.writer)) != holder(w) {
			z.t.Fatalf("RLockContext with writer %#x = %v; want %v", w, err, ctx.Err())
		}
		z.checkHolds("RLockContext", tb, false)
	case tb.Room || dead > 0:
		// A waiter bit alone is a writer that died: it is freed.
		var want error
		if st != 0 {
			want = lock.ErrOwnerDead
		}
		if err != want || atomic.LoadUint64(z.writer) != 0 {
			z.t.Fatalf("RLockContext with writer %#x, State %d, table %+v, %d dead = %v, writer %#x; want %v, writer 0",
				w, st, tb, dead, err, atomic.LoadUint64(z.writer), want)
		}
		z.checkHolds("RLockContext", tb, true)
	default:
		if !testutil.IsCtxErr(ctx, err) {
			z.t.Fatalf("RLockContext with a full table %+v = %v; want %v", tb, err, ctx.Err())
		}
		z.checkHolds("RLockContext", tb, false)
	}
}

func (z *lockFuzz) runlock() {
	tb := z.readers()
	want := ""
	if !tb.Held {
		want = "RUnlock of an RWMutex this process has not read-locked"
	}
	msg, panicked := testutil.Catch(z.rw.RUnlock)
	z.checkPanic("RUnlock", 0, want, msg, panicked)
	if got := z.readers().Ours; !panicked && got != tb.Ours-1 || panicked && got != tb.Ours {
		z.t.Fatalf("RUnlock (panicked %v) took this process's holds from %d to %d", panicked, tb.Ours, got)
	}
}

func (z *lockFuzz) rwTryLock() {
	w, st, tb := atomic.LoadUint64(z.writer), atomic.LoadUint32(z.state), z.readers()
	got := z.rw.TryLock()
	if want := w == 0 && tb.Empty; got != want {
		z.t.Fatalf("RWMutex.TryLock with writer %#x, table %+v = %v", w, tb, got)
	}
	w2, st2 := atomic.LoadUint64(z.writer), atomic.LoadUint32(z.state)
	if got && (w2 != uint64(testutil.SelfID) || st2 != 1) || !got && (w2 != w || st2 != st) {
		z.t.Fatalf("RWMutex.TryLock = %v: writer %#x → %#x, State %d → %d", got, w, w2, st, st2)
	}
}

func (z *lockFuzz) rwLockContext(op int) {
	ctx, cancel := testutil.FuzzContext(op, &z.tiny)
	defer cancel()
	w, st, tb := atomic.LoadUint64(z.writer), atomic.LoadUint32(z.state), z.readers()
	err := z.rw.LockContext(ctx)
	w2, st2 := atomic.LoadUint64(z.writer), atomic.LoadUint32(z.state)
	switch {
	case holder(w) != 0:
		if !testutil.IsCtxErr(ctx, err) || holder(w2) != holder(w) || st2 != st {
			z.t.Fatalf("RWMutex.LockContext with writer %#x = %v, writer %#x, State %d; want %v, unchanged", w, err, w2, st2, ctx.Err())
		}
	case !tb.Empty:
		// The readers are waited for, and then the Writer word freed.
		if !testutil.IsCtxErr(ctx, err) || w2 != 0 || st2 != st {
			z.t.Fatalf("RWMutex.LockContext with readers %+v = %v, writer %#x, State %d; want %v, writer 0", tb, err, w2, st2, ctx.Err())
		}
	default:
		var want error
		if st != 0 {
			want = lock.ErrOwnerDead
		}
		if err != want || holder(w2) != testutil.SelfID || st2 != 1 {
			z.t.Fatalf("RWMutex.LockContext with writer %#x, State %d = %v, writer %#x, State %d; want %v, held", w, st, err, w2, st2, want)
		}
	}
}

func (z *lockFuzz) rwUnlock() {
	w, st := atomic.LoadUint64(z.writer), atomic.LoadUint32(z.state)
	want := ""
	if holder(w) != testutil.SelfID || st == 0 {
		want = "Unlock of an RWMutex this process has not locked for writing"
	}
	msg, panicked := testutil.Catch(z.rw.Unlock)
	z.checkPanic("RWMutex.Unlock", w, want, msg, panicked)
	w2, st2 := atomic.LoadUint64(z.writer), atomic.LoadUint32(z.state)
	if !panicked && (w2 != 0 || st2 != 0) || panicked && (w2 != w || st2 != st) {
		z.t.Fatalf("RWMutex.Unlock (panicked %v): writer %#x → %#x, State %d → %d", panicked, w, w2, st, st2)
	}
}

// open opens every object again, whatever its memory holds, and goes on
// with the new handles.
func (z *lockFuzz) open() {
	m, err := lock.OpenMutex(z.seg, "m")
	if err != nil {
		z.t.Fatalf("OpenMutex = %v", err)
	}
	rw, err := lock.OpenRWMutex(z.seg, "rw")
	if err != nil {
		z.t.Fatalf("OpenRWMutex = %v", err)
	}
	c, err := lock.OpenCond(z.seg, "c", m)
	if err != nil {
		z.t.Fatalf("OpenCond = %v", err)
	}
	z.m, z.rw, z.c = m, rw, c
}

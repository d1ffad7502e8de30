package lock

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/futex"
	"github.com/shmkit/shmkit/internal/holders"
	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/proc"
	"github.com/shmkit/shmkit/internal/robust"
	"github.com/shmkit/shmkit/internal/spin"
	"github.com/shmkit/shmkit/shm"
)

// rwLayout documents an RWMutex object; the rw* constants are its field
// offsets, and a test keeps the two in agreement. The header words are read
// by every reader and written only when writers come and go; the reader
// table is spread over its own cache lines (see internal/holders).
type rwLayout struct {
	Writer  uint64             // robust lock word: the writer holding or waiting for write access
	State   uint32             // rwWriting while a writer has write access, or died with it
	Gate    uint32             // futex word readers sleep on; +1 when they may go on
	Drain   uint32             // futex word; 1 while the writer sleeps until the readers leave
	Full    uint32             // readers asleep, or about to sleep, on Gate for a free slot
	Waiting uint32             // readers asleep, or about to sleep, on Gate until the writer leaves
	_       [36]byte           // zero
	Readers [holders.Size]byte // reader table: one slot per reading process
}

// RWMutex field offsets (see rwLayout).
const (
	rwWriter   = 0
	rwState    = 8
	rwGate     = 12
	rwDrain    = 16
	rwFull     = 20
	rwWaiting  = 24
	rwSleepers = rwDrain // Drain and Full, loaded as one 64-bit word
	rwReaders  = 64

	// RWMutexSize is the number of bytes an RWMutex occupies: a header cache
	// line and a table of 64 reader slots spread over 8 cache lines. It is
	// what RWMutexAt needs.
	RWMutexSize = rwReaders + holders.Size

	// RWMutexReaders is the number of processes that can hold read locks
	// on one RWMutex at the same time; a reader in one more process waits
	// until one of them has unlocked. Goroutines of one process share their
	// process's slot.
	RWMutexReaders = holders.Slots
)

// rwWriting is the State bit set while a writer has write access. It stays
// set when that writer dies, which is how later lockers learn that the
// protected data may be half-written.
const rwWriting = 1

// RWMutex is a reader/writer lock shared between processes, which survives
// the death of any holder. Many readers (goroutines of up to RWMutexReaders
// processes) or one writer hold it at a time. It prefers writers: once a
// writer waits, new readers wait behind it, so a stream of readers cannot
// starve a writer.
//
// Its zero value is not usable: make one with NewRWMutex, OpenRWMutex or
// RWMutexAt. A handle is safe for concurrent use by the goroutines of one
// process. As with sync.RWMutex, a goroutine must not read-lock a lock it
// already holds (recursive read locking deadlocks once a writer waits), and
// it must not lock it for writing while it holds it in any mode.
type RWMutex struct {
	_       layout.NoCopy
	w       robust.Mutex // on the Writer word
	writer  *uint64
	state   *uint32
	gate    *uint32
	waiting *uint32
	drain   *uint32
	full    *uint32
	readers *holders.Table
	sleep   *uint64 // Drain and Full together
	mine    *uint64 // this process's first-choice reader slot: pid % 64
	tag     uint64  // this process's reader slot word, count 0
	wspin   spin.Budget
	rspin   spin.Budget
	what    string // "lock: RWMutex <name>", for panic messages
}

// NewRWMutex creates an unlocked RWMutex called name in seg.
func NewRWMutex(seg *shm.Segment, name string) (*RWMutex, error) {
	if err := checkSelf(); err != nil {
		return nil, err
	}
	mem, err := seg.Alloc(name, shm.KindRWMutex, RWMutexSize, 0, nil) // zero is unlocked
	if err != nil {
		return nil, err
	}
	return newRWMutex(mem, objectName(seg, name)), nil
}

// OpenRWMutex returns the RWMutex called name in seg, created by NewRWMutex
// in this or another process.
func OpenRWMutex(seg *shm.Segment, name string) (*RWMutex, error) {
	if err := checkSelf(); err != nil {
		return nil, err
	}
	mem, err := seg.Lookup(name, shm.KindRWMutex)
	if err != nil {
		return nil, err
	}
	if len(mem) < RWMutexSize {
		return nil, &shm.Error{Op: "open rwmutex", Segment: seg.Name(), Object: name, Offset: -1,
			Err: fmt.Errorf("%w: %d bytes, want %d", shm.ErrCorrupt, len(mem), RWMutexSize)}
	}
	return newRWMutex(mem, objectName(seg, name)), nil
}

// RWMutexAt returns an RWMutex kept in the first RWMutexSize bytes of mem,
// for objects that embed a reader/writer lock in their own layout. mem must
// be at least RWMutexSize bytes, 8-byte aligned (64-byte aligned keeps its
// cache lines apart), inside a shared mapping, and zero before first use
// (zero is unlocked). name appears in panic messages.
func RWMutexAt(mem []byte, name string) (*RWMutex, error) {
	if len(mem) < RWMutexSize || uintptr(unsafe.Pointer(&mem[0]))%8 != 0 {
		return nil, fmt.Errorf("lock: RWMutexAt %s: want %d bytes 8-byte aligned, got %d bytes at %p", name, RWMutexSize, len(mem), mem)
	}
	if err := checkSelf(); err != nil {
		return nil, err
	}
	return newRWMutex(mem, name), nil
}

// checkSelf reports an error if this process cannot be named in a reader
// slot, which cannot happen on Linux (pids are below 2^22).
func checkSelf() error {
	selfOnce.Do(func() { selfOne = holders.SelfTag() | 1 })
	if selfOne == 1 {
		return fmt.Errorf("lock: process id %d does not fit in a holder slot", proc.Self().Pid())
	}
	return nil
}

// selfOne is this process's reader slot word with a count of 1: what RLock's
// fast path stores into a free slot. It is a package variable, set before the
// first RWMutex handle exists, so that RLock and RUnlock stay small enough
// for the compiler to inline them.
var (
	selfOnce sync.Once
	selfOne  uint64
)

func newRWMutex(mem []byte, name string) *RWMutex {
	rw := &RWMutex{
		writer:  layout.U64(mem, rwWriter),
		state:   layout.U32(mem, rwState),
		gate:    layout.U32(mem, rwGate),
		waiting: layout.U32(mem, rwWaiting),
		drain:   layout.U32(mem, rwDrain),
		full:    layout.U32(mem, rwFull),
		tag:     holders.SelfTag(),
		what:    "lock: RWMutex " + name,
	}
	rw.readers = holders.New(mem[rwReaders:RWMutexSize], rw.tag)
	rw.mine = rw.readers.Slot(rw.readers.Start())
	rw.sleep = layout.U64(mem, rwSleepers)
	rw.w = robust.Mutex{Word: rw.writer, Budget: &rw.wspin}
	return rw
}

// The interleavings between a reader and a writer, with the steps labelled
// in the code below:
//
//	R1  a reader adds one to its process's slot (CAS);
//	R2  then loads Writer: 0 means it holds a read lock; otherwise it takes
//	    its hold back (R4) and waits for Gate (R5).
//	W1  a writer takes the Writer word (a robust lock: writers queue there);
//	W2  then scans the reader slots: all free means no reader holds.
//
// Go's atomics are sequentially consistent, so of R1;R2 and W1;W2 one pair
// comes first: either the reader sees the writer at R2, or the writer sees
// the reader's slot at W2 and waits for it (W3). Never both proceed. This is
// Dekker's mutual exclusion; the reader's side costs one CAS and one load.
//
//	W3  a writer that sees readers stores Drain = 1, re-scans, and sleeps on
//	    Drain while it is 1;
//	R3  a reader whose slot becomes free (RUnlock of its process's last
//	    hold) then loads Drain, and if it is 1 swaps it to 0 and wakes the
//	    writer.
//
// If R3's load comes before W3's store, the slot was freed before the
// writer's re-scan, which sees it free; otherwise the reader wakes the
// writer, or the writer's futex wait finds Drain changed. No wake-up is lost.
//
//	R5  a waiting reader loads Gate, adds one to Waiting, loads Writer, and
//	    sleeps on Gate while it still holds the value loaded;
//	U1  the writer's Unlock clears State, frees the Writer word, and then
//	    loads Waiting: non-zero means it adds one to Gate and wakes them all.
//
// A reader that registered in Waiting after U1's load also loads Writer
// after U1 freed it, and does not sleep.

// RLock locks rw for reading, waiting while a writer holds it or waits for
// it. If a writer died holding it, RLock recovers the lock silently; use
// RLockContext to learn of that.
func (rw *RWMutex) RLock() {
	// R1 on this process's first-choice slot, when it is free: claim it
	// with a count of 1. Publishes this hold to a writer's scan (W2).
	// R2. Acquire: a writer's Unlock freed the word after its last write.
	if held := atomic.CompareAndSwapUint64(rw.mine, 0, selfOne); !held || atomic.LoadUint64(rw.writer) != 0 {
		rw.rlockBlocking(held)
	}
}

// rlockBlocking is RLock's slow path, kept out of line so that RLock
// inlines.
//
//go:noinline
func (rw *RWMutex) rlockBlocking(held bool) {
	rw.rlockSlow(context.Background(), held)
}

// RLockContext locks rw for reading, waiting until no writer holds or waits
// for it, or ctx ends. It returns nil when it holds a read lock; ErrOwnerDead
// when it holds a read lock but a writer died with write access and no
// writer has locked rw since (the protected data may be half-written: the
// read lock IS held; a reader that cannot cope should RUnlock, Lock, repair
// and Unlock); or ctx.Err(), and then no read lock is held.
//
// A dead writer is noticed within about 25 ms by a blocked reader, which
// frees the writer's hold. A reader that died holding a read lock needs no
// repair: the writer that waits for it frees its hold and is not told.
func (rw *RWMutex) RLockContext(ctx context.Context) error {
	if err := rw.rlockSlow(ctx, false); err != nil {
		return err
	}
	// While this read lock is held no writer can gain write access, so
	// State set means a writer died with it.
	if atomic.LoadUint32(rw.state) != 0 {
		return ErrOwnerDead
	}
	return nil
}

// TryRLock locks rw for reading if no writer holds or waits for it, without
// waiting, and reports whether it did.
func (rw *RWMutex) TryRLock() bool {
	if atomic.LoadUint64(rw.writer) != 0 {
		return false
	}
	i, _ := rw.readers.Inc() // R1
	if i < 0 {
		return false
	}
	if atomic.LoadUint64(rw.writer) == 0 { // R2
		return true
	}
	rw.runlockSlow(false) // R4
	return false
}

// rlockSlow takes a read lock the long way: it waits for the writer, then
// for a free slot, and repeats R1 and R2 until they succeed. held says that
// the caller's R1 succeeded and its R2 found a writer: that hold is given
// back first (R4).
func (rw *RWMutex) rlockSlow(ctx context.Context, held bool) error {
	if held {
		rw.runlockSlow(false) // R4
	}
	var (
		watched  uint64    // writer identity being timed
		since    time.Time // when this reader first saw watched
		lastReap time.Time // when this reader last freed dead readers' slots
		spun     bool
		tok      spin.Token
	)
	for {
		if atomic.LoadUint64(rw.writer) != 0 {
			if !spun {
				// Spin once for the writer to leave; then sleep, and tell
				// the budget how long the wait took.
				spun = true
				var ok bool
				if ok, tok = rw.rspin.Spin(func() bool { return atomic.LoadUint64(rw.writer) == 0 }); ok {
					continue
				}
				defer rw.rspin.Waited(tok)
			}
			if err := rw.waitWriter(ctx, &watched, &since); err != nil {
				return err
			}
			continue
		}
		// R1 on any slot of this process, or a free one.
		i, _ := rw.readers.Inc()
		if i < 0 {
			if err := rw.waitSlot(ctx, &lastReap); err != nil {
				return err
			}
			continue
		}
		// R2.
		if atomic.LoadUint64(rw.writer) == 0 {
			return nil
		}
		rw.runlockSlow(false) // R4
	}
}

// waitWriter is R5: it sleeps on Gate until the writer leaves, for
// at most robust.CheckPeriod. When the same writer has held the Writer word
// for CheckPeriod it checks whether the writer is alive, and if it has died
// takes its word and frees it (the reader's recovery of a dead writer).
func (rw *RWMutex) waitWriter(ctx context.Context, watched *uint64, since *time.Time) error {
	g := atomic.LoadUint32(rw.gate)
	// Publishes a sleeper: a writer's Unlock that frees the word after
	// this sees it (U1).
	atomic.AddUint32(rw.waiting, 1)
	defer atomic.AddUint32(rw.waiting, ^uint32(0))
	v := atomic.LoadUint64(rw.writer)
	if v == 0 {
		return nil
	}
	holder := v &^ robust.W
	now := time.Now()
	if holder != *watched {
		*watched, *since = holder, now
	} else if now.Sub(*since) >= robust.CheckPeriod {
		*since = now
		if !proc.Alive(proc.Identity(holder)) {
			// Take the dead writer's word (one recoverer wins; the
			// others see a live holder, the winner) and free it as its
			// holder would. State stays as the dead writer left it.
			self := uint64(proc.Self())
			if atomic.CompareAndSwapUint64(rw.writer, v, self|v&robust.W) {
				rw.unlockWriter()
			}
			return nil
		}
	}
	sleep := robust.CheckPeriod - now.Sub(*since)
	if sleep <= 0 {
		sleep = robust.CheckPeriod
	}
	return futex.WaitContext(ctx, rw.gate, g, sleep)
}

// waitSlot sleeps on Gate until a reader slot may have become free, and
// frees the slots of dead readers every robust.CheckPeriod.
func (rw *RWMutex) waitSlot(ctx context.Context, lastReap *time.Time) error {
	g := atomic.LoadUint32(rw.gate)
	// Publishes a slot waiter: a reader that frees a slot after this sees
	// it and wakes Gate.
	atomic.AddUint32(rw.full, 1)
	defer atomic.AddUint32(rw.full, ^uint32(0))
	if i, _ := rw.readers.Inc(); i >= 0 {
		// Got one after all; give it back and let the caller retry R1
		// and R2 in order.
		rw.runlockSlow(false)
		return nil
	}
	if time.Since(*lastReap) >= robust.CheckPeriod {
		*lastReap = time.Now()
		if _, n := rw.readers.Reap(); n > 0 {
			return nil
		}
	}
	return futex.WaitContext(ctx, rw.gate, g, robust.CheckPeriod)
}

// RUnlock undoes one RLock. Any goroutine of a process holding read locks
// may undo any of them. It panics if this process holds no read lock on rw.
func (rw *RWMutex) RUnlock() {
	// Free this process's first-choice slot if it holds just this one
	// hold. Release: this hold's reads happen before a writer's W2 sees
	// the slot free. R3: then look for sleepers.
	if freed := atomic.CompareAndSwapUint64(rw.mine, selfOne, 0); !freed || atomic.LoadUint64(rw.sleep) != 0 {
		rw.runlockSlow(freed)
	}
}

// runlockSlow takes one hold from any slot of this process (R4), unless
// freed says RUnlock's fast path already freed one, and when a slot became
// free, wakes a writer waiting for the readers to leave and readers waiting
// for a slot (R3).
func (rw *RWMutex) runlockSlow(freed bool) {
	if !freed {
		var ok bool
		if ok, freed = rw.readers.Dec(); !ok {
			panic(rw.what + ": RUnlock of an RWMutex this process has not read-locked")
		}
		if !freed {
			return
		}
	}
	// R3. The slot is free (the CAS in Dec or RUnlock); now look for
	// sleepers.
	if atomic.LoadUint32(rw.drain) != 0 && atomic.SwapUint32(rw.drain, 0) != 0 {
		futex.Wake(rw.drain, 1)
	}
	if atomic.LoadUint32(rw.full) != 0 {
		atomic.AddUint32(rw.gate, 1)
		futex.WakeAll(rw.gate)
	}
}

// Lock locks rw for writing, waiting for other writers and then for the
// readers to leave. If a holder died, Lock recovers the lock silently; use
// LockContext to learn of that.
func (rw *RWMutex) Lock() {
	rw.LockContext(context.Background())
}

// LockContext locks rw for writing, waiting until no other writer holds it
// and every reader has left, or ctx ends. It returns nil when it holds the
// write lock; ErrOwnerDead when it holds the write lock and a writer died
// with write access, so that the protected data may be half-written (the
// lock IS held: repair, then Unlock; Unlock marks the data consistent
// again); or ctx.Err(), and then the lock is not held and waiting readers
// have been let go.
//
// A writer that died holding or waiting for the lock is noticed within
// about 25 ms, and so is a reader that died holding a read lock: its hold
// is freed and nothing is reported, since a reader changes nothing. A
// writer that died while it waited for readers (before it had write access)
// is not reported either.
func (rw *RWMutex) LockContext(ctx context.Context) error {
	// W1.
	if _, err := rw.w.Lock(ctx); err != nil {
		return err
	}
	// W2.
	if !rw.readers.Empty() {
		if err := rw.drainReaders(ctx); err != nil {
			rw.unlockWriter()
			return err
		}
	}
	// Write access. The old State says whether a writer died with it.
	if atomic.SwapUint32(rw.state, rwWriting) != 0 {
		return ErrOwnerDead
	}
	return nil
}

// TryLock locks rw for writing if no writer and no reader holds it, without
// waiting, and reports whether it did. It does not take over a lock whose
// holder died.
func (rw *RWMutex) TryLock() bool {
	if !rw.w.TryLock() { // W1
		return false
	}
	if !rw.readers.Empty() { // W2
		rw.unlockWriter()
		return false
	}
	atomic.StoreUint32(rw.state, rwWriting)
	return true
}

// drainReaders is W3: it waits until every reader slot is free, freeing the
// slots of dead readers every robust.CheckPeriod.
func (rw *RWMutex) drainReaders(ctx context.Context) error {
	ok, tok := rw.wspin.Spin(rw.readers.Empty)
	if ok {
		return nil
	}
	defer rw.wspin.Waited(tok)
	lastReap := time.Now()
	for {
		// Publishes a sleeping writer to readers that free a slot after
		// this store (R3).
		atomic.StoreUint32(rw.drain, 1)
		if rw.readers.Empty() {
			atomic.StoreUint32(rw.drain, 0)
			return nil
		}
		sleep := robust.CheckPeriod - time.Since(lastReap)
		if sleep <= 0 {
			lastReap = time.Now()
			rw.readers.Reap()
			continue
		}
		if err := futex.WaitContext(ctx, rw.drain, 1, sleep); err != nil {
			atomic.StoreUint32(rw.drain, 0)
			return err
		}
	}
}

// Unlock unlocks rw for writing. Any goroutine of the holding process may
// unlock it. It panics if rw is not locked for writing by this process.
func (rw *RWMutex) Unlock() {
	if atomic.LoadUint64(rw.writer)&^robust.W != uint64(proc.Self()) || atomic.LoadUint32(rw.state) == 0 {
		panic(rw.what + ": Unlock of an RWMutex this process has not locked for writing")
	}
	// U1. Release, with the Writer word's CAS below: the writes made under
	// the lock are visible to whoever loads the word as free.
	atomic.StoreUint32(rw.state, 0)
	rw.unlockWriter()
}

// unlockWriter frees the Writer word held by this process and wakes the
// readers waiting for it (U1).
func (rw *RWMutex) unlockWriter() {
	rw.w.Unlock(rw.what) // wakes one waiting writer if any sleeps
	if atomic.LoadUint32(rw.waiting) != 0 {
		atomic.AddUint32(rw.gate, 1)
		futex.WakeAll(rw.gate)
	}
}

// RLocker returns a sync.Locker whose Lock and Unlock call RLock and RUnlock.
func (rw *RWMutex) RLocker() sync.Locker {
	return (*rlocker)(rw)
}

type rlocker RWMutex

func (r *rlocker) Lock()   { (*RWMutex)(r).RLock() }
func (r *rlocker) Unlock() { (*RWMutex)(r).RUnlock() }

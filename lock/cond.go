package lock

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/futex"
	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/robust"
	"github.com/shmkit/shmkit/internal/spin"
	"github.com/shmkit/shmkit/shm"
)

// condLayout documents a Cond object; the cond* constants are its field
// offsets, and a test keeps the two in agreement.
type condLayout struct {
	Seq     uint32   // futex word: +1 on every Signal and Broadcast that finds a waiter
	Waiters uint32   // goroutines between registering in Wait and returning
	_       [56]byte // zero
}

// Cond field offsets (see condLayout).
const (
	condSeq     = 0
	condWaiters = 4
	condSize    = layout.CacheLine
)

// Cond is a condition variable shared between processes: a point where
// goroutines of any process wait, with a Mutex released, until another
// signals that the condition they wait for may have changed.
//
// Every process must give its Cond handle a handle on the same Mutex (the
// same object in the segment). A Cond handle is safe for concurrent use by
// the goroutines of one process.
//
// As with POSIX condition variables, and unlike sync.Cond, Wait may return
// although no Signal was meant for it; callers re-check their condition in
// a loop:
//
//	m.Lock()
//	for !condition() {
//		if err := c.Wait(ctx); err != nil { ... } // m is held again here
//	}
//	... use the condition ...
//	m.Unlock()
type Cond struct {
	_       layout.NoCopy
	m       *Mutex
	seq     *uint32
	waiters *uint32
	spin    spin.Budget
}

// NewCond creates a Cond called name in seg, used with m.
func NewCond(seg *shm.Segment, name string, m *Mutex) (*Cond, error) {
	if m == nil {
		return nil, errors.New("lock: NewCond: nil Mutex")
	}
	mem, err := seg.Alloc(name, shm.KindCond, condSize, 0, nil) // zero: no waiters
	if err != nil {
		return nil, err
	}
	return newCond(mem, m), nil
}

// OpenCond returns the Cond called name in seg, created by NewCond in this
// or another process, used with m: a handle on the Mutex the creator used.
func OpenCond(seg *shm.Segment, name string, m *Mutex) (*Cond, error) {
	if m == nil {
		return nil, errors.New("lock: OpenCond: nil Mutex")
	}
	mem, err := seg.Lookup(name, shm.KindCond)
	if err != nil {
		return nil, err
	}
	if len(mem) < condSize {
		return nil, &shm.Error{Op: "open cond", Segment: seg.Name(), Object: name, Offset: -1,
			Err: fmt.Errorf("%w: %d bytes, want %d", shm.ErrCorrupt, len(mem), condSize)}
	}
	return newCond(mem, m), nil
}

func newCond(mem []byte, m *Mutex) *Cond {
	return &Cond{m: m, seq: layout.U32(mem, condSeq), waiters: layout.U32(mem, condWaiters)}
}

// The interleaving that loses no wake-up, with the steps labelled below:
//
//	C1  the waiter, holding m, loads Seq and adds one to Waiters;
//	C2  it unlocks m;
//	C3  it sleeps on Seq while Seq still holds the value loaded at C1.
//	S1  a signaller changes the condition, under m: after C2;
//	S2  it loads Waiters: non-zero since C1 came before C2 and S1;
//	S3  it adds one to Seq and wakes.
//
// If S3 comes before C3, the futex wait finds Seq changed and returns at
// once; otherwise the wake finds the waiter asleep. Signal and Broadcast
// make no system call, and write nothing, when S2 finds no waiter. This is
// the sequence-counter condition variable of Rust's standard library
// (library/std/src/sys/sync/condvar/futex.rs) with a waiter count added.

// Wait unlocks c's Mutex, sleeps until Signal or Broadcast wakes it or ctx
// ends, and locks the Mutex again before returning. The Mutex must be held
// by the calling process on entry (Wait panics otherwise, as Unlock does),
// and it IS held on every return, whatever the error.
//
// It returns nil after a Signal or Broadcast, which may have been meant for
// another waiter (or may not change the condition): re-check the condition. It returns ctx.Err() when ctx ended first (the Mutex is then
// re-locked without regard to ctx, which may take as long as its holder
// keeps it). It returns ErrOwnerDead when re-locking took the Mutex over
// from a holder that died, joined with ctx.Err() if ctx had also ended;
// errors.Is matches each.
func (c *Cond) Wait(ctx context.Context) error {
	if !c.m.r.HeldBySelf() {
		panic(c.m.what + ": Cond.Wait by a process that does not hold the mutex")
	}
	// C1. Seq is loaded under m, before the signaller can change the
	// condition; the count tells signallers that a wake is needed.
	seq := atomic.LoadUint32(c.seq)
	atomic.AddUint32(c.waiters, 1)
	c.m.Unlock() // C2
	// C3. The sleep is bounded so that a signaller killed between its add
	// and its wake delays this waiter by at most robust.CheckPeriod.
	// A signal usually comes soon in a hand-off between two processes:
	// spin for it first, within the handle's adaptive budget.
	var err error
	woke, tok := c.spin.Spin(func() bool { return atomic.LoadUint32(c.seq) != seq })
	if !woke {
		for atomic.LoadUint32(c.seq) == seq {
			if err = futex.WaitContext(ctx, c.seq, seq, robust.CheckPeriod); err != nil {
				break
			}
		}
		c.spin.Waited(tok)
	}
	atomic.AddUint32(c.waiters, ^uint32(0))
	if lerr := c.m.LockContext(context.Background()); lerr != nil {
		if err != nil {
			return errors.Join(lerr, err)
		}
		return lerr
	}
	return err
}

// Signal wakes one goroutine waiting in Wait on c, in any process, if there
// is one. It makes no system call when none waits. Calling it with the Mutex
// held is not required, but a signaller that changed the condition must
// have done so under the Mutex.
func (c *Cond) Signal() {
	// S2. Acquire: a waiter's C1 is visible once the condition's change
	// (made under the Mutex, after the waiter's C2) is.
	if atomic.LoadUint32(c.waiters) == 0 {
		return
	}
	atomic.AddUint32(c.seq, 1) // S3: publishes the wake to waiters not yet asleep
	futex.Wake(c.seq, 1)
}

// Broadcast wakes every goroutine waiting in Wait on c, in every process. It
// makes no system call when none waits.
func (c *Cond) Broadcast() {
	if atomic.LoadUint32(c.waiters) == 0 { // S2
		return
	}
	atomic.AddUint32(c.seq, 1) // S3
	futex.WakeAll(c.seq)
}

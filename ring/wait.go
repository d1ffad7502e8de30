package ring

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/fence"
	"github.com/shmkit/shmkit/internal/futex"
	"github.com/shmkit/shmkit/internal/robust"
	"github.com/shmkit/shmkit/internal/spin"
)

// checkPeriod bounds how long a waiter sleeps before it checks on the other
// side (a dead peer, an abandoned slot).
const checkPeriod = robust.CheckPeriod

// sleeper is a pair of words in shared memory for the wait protocol:
//
//	seq   the futex word; a waker increments it before waking
//	flag  nonzero when a waiter may be asleep; set by waiters, cleared by
//	      the waker
//
// A waiter (wait):
//
//	W1. loads seq;
//	W2. stores flag = 1;
//	W3. for a light sleeper, calls fence.Heavy;
//	W4. re-checks its condition, returning if it now holds;
//	W5. sleeps on seq while it still holds the value loaded in W1.
//
// The other side (wake), after publishing with a store P:
//
//	K1. loads flag; if 0, returns: no system call;
//	K2. swaps flag to 0; if it was 1, increments seq and wakes every
//	    sleeper.
//
// Either W4 sees P, or K1 sees W2 and the increment of seq makes W5 return
// (Dekker's argument). For that, P must be ordered before K1 and W2 before
// W4. W2 is a sequentially consistent store. P is one too (the Queue), or,
// in a light sleeper (the SPSC ring), a fence.Publish64 whose missing
// store-load barrier the waiter supplies with fence.Heavy in W3. Because
// the waker clears the flag, a waiter that dies asleep costs at most one
// wake system call, not one per message forever.
type sleeper struct {
	seq  *uint32
	flag *uint32
	// light: the other side publishes with fence.Publish64, so the waiter
	// issues fence.Heavy before its last check.
	light bool
}

// wake wakes the waiters, if any are recorded. Call it after publishing.
func (s sleeper) wake() {
	// K1. Acquire: pairs with W2.
	if atomic.LoadUint32(s.flag) != 0 {
		s.wakeSlow()
	}
}

// wakeSlow is kept out of line so that wake inlines into every publisher.
//
//go:noinline
func (s sleeper) wakeSlow() {
	// K2.
	if atomic.SwapUint32(s.flag, 0) != 0 {
		atomic.AddUint32(s.seq, 1)
		futex.WakeAll(s.seq)
	}
}

// waitOpts describes one wait.
type waitOpts struct {
	budget *spin.Budget
	busy   bool // spin until ready, never sleep
	// ready reports whether the wait is over. It must be cheap: it runs on
	// every poll.
	ready func() bool
	// check runs after every checkPeriod of sleeping; a non-nil error ends
	// the wait with that error. It may repair shared state (recover a slot
	// whose writer died) and return nil.
	check func() error
}

// wait blocks until o.ready() holds (nil), ctx ends (ctx.Err()), or o.check
// reports an error. It spins for the budget's polls first, then follows the
// W1–W5 protocol above.
func (s sleeper) wait(ctx context.Context, o waitOpts) error {
	if o.busy {
		return busyWait(ctx, o)
	}
	ok, tok := o.budget.Spin(o.ready)
	if ok {
		return nil
	}
	defer o.budget.Waited(tok)
	var slept time.Time
	for {
		if o.ready() {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if o.check != nil {
			if slept.IsZero() {
				slept = time.Now()
			} else if time.Since(slept) >= checkPeriod {
				if err := o.check(); err != nil {
					return err
				}
				slept = time.Now()
			}
		}
		seq := atomic.LoadUint32(s.seq) // W1
		atomic.StoreUint32(s.flag, 1)   // W2
		if s.light {
			fence.Heavy() // W3
		}
		if o.ready() { // W4
			return nil
		}
		if err := futex.WaitContext(ctx, s.seq, seq, checkPeriod); err != nil { // W5
			return err
		}
	}
}

func busyWait(ctx context.Context, o waitOpts) error {
	last := time.Now()
	for i := 0; ; i++ {
		if o.ready() {
			return nil
		}
		spin.Pause()
		if i%1024 == 1023 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if o.check != nil && time.Since(last) >= checkPeriod {
				if err := o.check(); err != nil {
					return err
				}
				last = time.Now()
			}
		}
	}
}

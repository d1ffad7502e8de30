// Package futex waits and wakes on 32-bit words in shared memory.
//
// The words live in a MAP_SHARED mapping that several processes map, so the
// futex operations are the shared (not FUTEX_PRIVATE_FLAG) kind: the kernel
// keys them on the underlying page, and a wake in one process reaches a
// waiter in another.
//
// The protocol every caller follows (Drepper, "Futexes Are Tricky", 2011):
//
//  1. load the word and decide to sleep because it holds val;
//  2. record that a sleeper exists (a waiter count or a flag bit) so that the
//     other side knows a wake system call is needed;
//  3. Wait(addr, val): the kernel sleeps only if *addr still equals val, so a
//     change made between 1 and 3 is never missed;
//  4. after any return, re-check the condition: wake-ups can be spurious.
//
// [WaitContext] adds context cancellation: when the context ends, a waker
// wakes every sleeper on the word (they re-check and go back to sleep) until
// the cancelled waiter has returned, which closes the window between the
// waiter's last check of ctx and its entry into the kernel.
package futex

import (
	"context"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ErrTimeout is returned by Wait when its deadline passes. It is
// os.ErrDeadlineExceeded, so errors.Is(err, os.ErrDeadlineExceeded) holds.
var ErrTimeout = os.ErrDeadlineExceeded

// Wait sleeps while *addr == val, until a Wake on addr, a spurious wake-up,
// or the deadline (the zero Time means none). It returns nil when woken or
// when *addr != val on entry, and ErrTimeout when the deadline passed.
// Interrupted system calls (EINTR) are retried with the time that remains.
// The caller must re-check its condition after Wait returns.
func Wait(addr *uint32, val uint32, deadline time.Time) error {
	return wait(addr, val, deadline)
}

// Wake wakes at most n waiters sleeping on addr, in any process, and returns
// how many it woke.
func Wake(addr *uint32, n int) int {
	return wake(addr, n)
}

// WakeAll wakes every waiter sleeping on addr.
func WakeAll(addr *uint32) int {
	return wake(addr, 1<<31-1)
}

// WaitContext is Wait bounded by ctx and by maxSleep (zero or negative: no
// bound). It returns ctx.Err() if ctx has ended, before or during the wait,
// and nil otherwise: woken, value changed, spurious wake-up or maxSleep
// elapsed. A cancelled wait returns within a millisecond or two of the
// cancellation.
func WaitContext(ctx context.Context, addr *uint32, val uint32, maxSleep time.Duration) error {
	// A futex wait blocks its thread in a system call that the Go scheduler
	// takes for a short one: the processor (P) stays with the thread, and
	// goroutines this goroutine has just made runnable (by closing a
	// channel, say) wait on its run queue until the runtime's monitor takes
	// the P back, 20 µs to 10 ms later. Yielding first lets them run now.
	runtime.Gosched()
	var deadline time.Time
	if maxSleep > 0 {
		deadline = time.Now().Add(maxSleep)
	}
	done := ctx.Done()
	if done == nil {
		Wait(addr, val, deadline)
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ctxDeadline := false
	if d, ok := ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
		deadline, ctxDeadline = d, true
	}
	w := wakerPool.Get().(*waker)
	w.addr = addr
	w.done.Store(false)
	stop := context.AfterFunc(ctx, w.run)
	if err := Wait(addr, val, deadline); err == ErrTimeout && ctxDeadline {
		// The context's own timer fires at about this moment; wait for it
		// so that the caller sees ctx.Err() and does not spin.
		<-done
	}
	// Tell a running waker to stop, and wait for it so that w can be reused.
	w.done.Store(true)
	if stop() {
		// The waker never started.
		wakerPool.Put(w)
	} else {
		<-w.exited
		wakerPool.Put(w)
	}
	return ctx.Err()
}

// waker wakes addr until the waiter that registered it has returned from
// Wait. One wake is not enough: the context may end after the waiter's last
// check and before it enters the kernel.
type waker struct {
	addr   *uint32
	done   atomic.Bool
	exited chan struct{}
}

var wakerPool = sync.Pool{New: func() any { return &waker{exited: make(chan struct{}, 1)} }}

func (w *waker) run() {
	pause := 20 * time.Microsecond
	for !w.done.Load() {
		WakeAll(w.addr)
		time.Sleep(pause)
		if pause < time.Millisecond {
			pause *= 2
		}
	}
	w.exited <- struct{}{}
}

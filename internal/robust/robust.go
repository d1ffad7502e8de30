// Package robust implements a mutual-exclusion lock over one 64-bit word in
// shared memory that survives the death of its holder.
//
// # Word layout
//
//	bits 63     W: a waiter may be asleep on the futex; Unlock must wake one
//	bits 62..32 pid of the holder (0 when unlocked)
//	bits 31..0  start time of the holder, low 32 bits (see internal/proc)
//
// The whole word is 0 when the lock is free. The futex operations use the
// 32-bit half that holds W and the pid (the high half).
//
// # Algorithm
//
// The lock is Drepper's "mutex3" ("Futexes Are Tricky", 2011) with the
// holder's identity in place of the constant 1:
//
//  1. Lock fast path: CAS(0 → self). One atomic operation, no system call.
//  2. Slow path: spin a bounded, adaptive number of polls (internal/spin)
//     retrying step 1.
//  3. Then loop: if the word is 0, CAS(0 → self|W) and return (W because
//     other waiters may be asleep); otherwise set W with a CAS and sleep on
//     the high half while it still holds that value.
//  4. Unlock fast path: CAS(self → 0). If it fails the word must be self|W:
//     CAS(self|W → 0) and wake one waiter.
//
// A waiter sleeps at most CheckPeriod at a time. When the same holder has
// held the lock for CheckPeriod while this waiter waited, the waiter checks
// the holder's identity ([proc.Alive]: pid and start time, zombies count as
// dead). If the holder has died the waiter takes the lock with
// CAS(dead → self|W), which only one waiter can win, and reports ownerDead.
// Detection needs nothing from the dead process and copes with pid reuse.
package robust

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/futex"
	"github.com/shmkit/shmkit/internal/proc"
	"github.com/shmkit/shmkit/internal/spin"
)

// W is the waiters bit.
const W = uint64(1) << 63

// CheckPeriod bounds how long a waiter sleeps before it checks whether the
// holder is still alive. A holder's death is noticed within CheckPeriod plus
// the cost of the check (a read of /proc/PID/stat, about 10 µs).
const CheckPeriod = 25 * time.Millisecond

// Mutex is a handle on a lock word. The zero Mutex is not usable; set Word
// (8-byte aligned, in shared memory) before use. A Mutex may be copied
// before use; its methods are safe for concurrent use.
type Mutex struct {
	Word   *uint64
	Budget *spin.Budget // may be nil: no adaptive spin
}

// hi returns the address of the 32-bit half of the word that holds W and the
// pid: the futex word.
func hi(w *uint64) *uint32 {
	return (*uint32)(unsafe.Add(unsafe.Pointer(w), hiOffset))
}

// hiOffset is 4 on little-endian machines, 0 on big-endian ones.
var hiOffset = func() uintptr {
	x := uint64(1) << 32
	if *(*uint32)(unsafe.Pointer(&x)) == 1 {
		return 0
	}
	return 4
}()

// TryLock takes the lock if it is free and reports whether it did.
// It does not take over a lock whose holder has died.
func (m Mutex) TryLock() bool {
	// Acquire: on success the holder's writes before its Unlock are visible.
	if atomic.CompareAndSwapUint64(m.Word, 0, uint64(proc.Self())) {
		RaceAcquire(m.Word)
		return true
	}
	return false
}

// Lock takes the lock, blocking until it is free, its holder has died, or ctx
// ends. It returns ownerDead = true when it took the lock over from a dead
// holder (the lock is then held by the caller). On error (ctx.Err()) the lock
// is not held.
func (m Mutex) Lock(ctx context.Context) (ownerDead bool, err error) {
	if atomic.CompareAndSwapUint64(m.Word, 0, uint64(proc.Self())) {
		RaceAcquire(m.Word)
		return false, nil
	}
	ownerDead, err = m.lockSlow(ctx)
	if err == nil {
		RaceAcquire(m.Word)
	}
	return ownerDead, err
}

func (m Mutex) lockSlow(ctx context.Context) (bool, error) {
	self := uint64(proc.Self())
	if m.Budget != nil {
		ok, tok := m.Budget.Spin(func() bool {
			return atomic.LoadUint64(m.Word) == 0 && atomic.CompareAndSwapUint64(m.Word, 0, self)
		})
		if ok {
			return false, nil
		}
		defer m.Budget.Waited(tok)
	}
	var (
		watched uint64    // holder identity being timed
		since   time.Time // when this waiter first saw watched holding the lock
	)
	for {
		v := atomic.LoadUint64(m.Word)
		if v == 0 {
			// Step 3: take it marked contended; others may sleep.
			if atomic.CompareAndSwapUint64(m.Word, 0, self|W) {
				return false, nil
			}
			continue
		}
		holder := v &^ W
		now := time.Now()
		if holder != watched {
			watched, since = holder, now
		} else if now.Sub(since) >= CheckPeriod {
			since = now
			if !proc.Alive(proc.Identity(holder)) {
				// Only one waiter can win this CAS; the others see a live
				// holder (the winner) on their next check.
				if atomic.CompareAndSwapUint64(m.Word, v, self|W) {
					return true, nil
				}
				continue
			}
		}
		if v&W == 0 {
			if !atomic.CompareAndSwapUint64(m.Word, v, v|W) {
				continue
			}
			v |= W
		}
		sleep := CheckPeriod - now.Sub(since)
		if sleep <= 0 {
			sleep = CheckPeriod
		}
		if err := futex.WaitContext(ctx, hi(m.Word), uint32(v>>32), sleep); err != nil {
			return false, err
		}
	}
}

// Unlock releases the lock. It panics if the lock is free, or is held by
// another live process: both are bugs that would otherwise break mutual
// exclusion silently. A word that names no live process can only be the
// work of a damaged or hostile peer (the caller believes it holds the
// lock): Unlock then frees the lock rather than panic on bytes read from
// shared memory. Any goroutine of the holding process may unlock, as with
// sync.Mutex.
func (m Mutex) Unlock(what string) {
	RaceRelease(m.Word)
	// Release: publishes the holder's writes to the next acquirer.
	if atomic.CompareAndSwapUint64(m.Word, uint64(proc.Self()), 0) {
		return
	}
	m.unlockSlow(what)
}

func (m Mutex) unlockSlow(what string) {
	self := uint64(proc.Self())
	for {
		v := atomic.LoadUint64(m.Word)
		if v == 0 {
			panic(fmt.Sprintf("%s: unlock of unlocked mutex", what))
		}
		if holder := proc.Identity(v &^ W); uint64(holder) != self && proc.Alive(holder) {
			panic(fmt.Sprintf("%s: unlock of mutex held by another process (pid %d); this process (pid %d) does not hold it",
				what, holder.Pid(), proc.Self().Pid()))
		}
		if atomic.CompareAndSwapUint64(m.Word, v, 0) {
			if v&W != 0 || uint64(proc.Identity(v&^W)) != self {
				futex.WakeAll(hi(m.Word))
			}
			return
		}
	}
}

// Holder returns the identity of the process holding the lock, or 0.
func (m Mutex) Holder() proc.Identity {
	return proc.Identity(atomic.LoadUint64(m.Word) &^ W)
}

// HeldBySelf reports whether the calling process holds the lock.
func (m Mutex) HeldBySelf() bool {
	return m.Holder() == proc.Self()
}

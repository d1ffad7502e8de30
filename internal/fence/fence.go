// Package fence lets a publisher in shared memory skip the full memory
// barrier that a wait protocol of the Dekker kind needs on every message,
// by moving the barrier to the side that is about to sleep.
//
// The protocol it serves: a publisher stores a word P (a record header, a
// position) and then loads a waiter's flag F; a waiter stores F = 1 and then
// loads P. If both loads could be satisfied before the other side's store
// became visible, the waiter would sleep on data it missed and the publisher
// would not wake it. The usual cure is a full barrier between store and load
// on both sides; on amd64 that is an XCHG, which drains the store buffer and
// stalls the publisher for a cache-line transfer on every message.
//
// Here the publisher uses Publish64 (a plain release store on amd64) and
// the waiter calls Heavy between its store of F and its load of P. Heavy
// makes every running thread of every process that called Enable execute a
// full barrier (Linux membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED), so
// either the publisher's P is visible to the waiter's load, or the
// publisher's load of F comes after the barrier and sees F = 1 (the
// asymmetric form of Dekker's argument, as in folly's asymmetric barriers
// and liburcu). The waiter pays a system call once per sleep; the publisher
// pays nothing per message.
//
// A process publishes with plain stores only after its registration with
// membarrier succeeded; otherwise (an old kernel, a seccomp filter) and on
// every architecture but amd64, Publish64 is a sequentially consistent
// store and needs no help from the waiter. On arm64 that store is STLR,
// which a later LDAR cannot overtake, so it costs no full barrier there.
package fence

import (
	"sync"
	"sync/atomic"
)

// light is true once this process may publish with plain release stores:
// it has registered for MEMBARRIER_CMD_GLOBAL_EXPEDITED.
var light atomic.Bool

var (
	enableOnce sync.Once
	enabled    = make(chan struct{})
)

// Enable starts this process's registration for plain-store publication and
// returns at once. The registration is a system call that waits for an RCU
// grace period (about 10 ms), so it runs on a goroutine of its own; until it
// has succeeded, and for good if it fails, Publish64 stores with a full
// barrier, which is correct at any moment. Later calls do nothing.
func Enable() {
	enableOnce.Do(func() {
		go func() {
			enable()
			close(enabled)
		}()
	})
}

// Enabled returns a channel closed once the registration that Enable
// started has finished, successfully (Light reports true) or not.
func Enabled() <-chan struct{} { return enabled }

// Light reports whether Publish64 in this process is a plain release store.
func Light() bool { return light.Load() }

// Publish64 stores v at *p with release ordering: loads and stores before
// it, in program order, are visible to any process that sees v. A load
// after it in program order may be satisfied before the store is visible to
// other CPUs, unless the process that stored what the load reads calls
// Heavy between that store and its own load of *p.
func Publish64(p *uint64, v uint64) {
	if light.Load() {
		storeRelease64(p, v)
		return
	}
	atomic.StoreUint64(p, v)
}

// Heavy executes a full memory barrier on every CPU running a thread of a
// process that publishes with plain stores. A waiter calls it after
// announcing its sleep and before its last look at the published word.
//
// Where the system call is refused to this process but was allowed to a
// peer (the two run under different seccomp filters), Heavy does nothing
// and a wake-up may be missed; waiters that bound their sleeps, as all of
// shmkit's do, then see the word late instead of never.
func Heavy() { heavy() }

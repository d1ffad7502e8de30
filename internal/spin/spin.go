// Package spin implements the bounded, adaptive busy-wait that precedes a
// futex sleep.
//
// Spinning pays off only when the other side will act within about the cost
// of a sleep and a wake (a few microseconds), and it is harmful when the two
// processes share a CPU: the spinner then delays the very process it waits
// for. So a Budget spins for at most its current number of polls, then tells
// the caller to sleep, and it adapts per handle: a spin that ends in success
// doubles the budget (up to Max), one that ends in a sleep halves it, down to
// zero. At zero the caller sleeps at once, except that every ProbeEvery-th
// wait probes with Min polls, so that a handle notices when spinning starts
// to pay again. On a machine with one CPU available it never spins.
package spin

import (
	"runtime"
	"sync/atomic"
)

// Budget bounds, in polls. A poll is a check of the caller's condition and
// one CPU pause (Pause): from about 10 ns to 50 ns, depending on the CPU.
const (
	Min        = 16
	Max        = 1024
	initial    = 128
	ProbeEvery = 32
)

// Budget is the adaptive spin budget kept in a handle (not in shared memory:
// it describes this process's experience). Its zero value is ready to use.
// It is safe for concurrent use.
type Budget struct {
	n     atomic.Int32 // polls; 0 means initial until first adjusted, then see stale
	set   atomic.Bool  // n has been adjusted at least once
	waits atomic.Uint32
}

// multiCPU is true when spinning can help: another CPU can run the side we
// wait for while we spin.
var multiCPU = runtime.NumCPU() > 1

// Polls returns the number of polls to try before sleeping.
func (b *Budget) Polls() int {
	if !multiCPU || runtime.GOMAXPROCS(0) == 1 {
		return 0
	}
	if !b.set.Load() {
		return initial
	}
	n := int(b.n.Load())
	if n == 0 && b.waits.Add(1)%ProbeEvery == 0 {
		return Min
	}
	return n
}

// Success records that a spin ended with the condition met.
func (b *Budget) Success() {
	n := b.n.Load()
	if !b.set.Load() {
		n = initial
	}
	b.n.Store(min(max(n*2, Min), Max))
	b.set.Store(true)
}

// Failure records that a spin ended in a sleep.
func (b *Budget) Failure() {
	n := b.n.Load()
	if !b.set.Load() {
		n = initial
	}
	n /= 2
	if n < Min {
		n = 0
	}
	b.n.Store(n)
	b.set.Store(true)
}

// Pause spends a few tens of cycles politely: it tells the CPU that this
// is a spin-wait loop (PAUSE on amd64, YIELD on arm64), which frees
// resources for a sibling hyper-thread and avoids a memory-order
// mis-speculation when the awaited store arrives.
func Pause() { pause() }

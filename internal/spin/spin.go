// Package spin implements the bounded, adaptive busy-wait that precedes a
// futex sleep.
//
// Spinning pays off only when the other side will act within about the cost
// of a sleep and a wake (a few microseconds), and it is harmful when the two
// processes share a CPU: the spinner then delays the very process it waits
// for. So a Spinner spins for at most its current budget, then tells the
// caller to sleep, and it adapts the budget per handle: spins that end in
// success double it (up to Max), spins that end in a sleep halve it (down to
// Min). On a machine with one CPU available it never spins.
package spin

import (
	"runtime"
	"sync/atomic"
)

// Budget bounds, in polls. One poll is a check of the caller's condition
// followed by a short CPU pause (Pause), about 0.1 to 0.5 µs.
const (
	Min     = 4
	Max     = 256
	initial = 64
)

// Budget is the adaptive spin budget kept in a handle (not in shared memory:
// it describes this process's experience). Its zero value is ready to use.
// It is safe for concurrent use.
type Budget struct {
	n atomic.Int32
}

// multiCPU is true when spinning can help: another CPU can run the side we
// wait for while we spin.
var multiCPU = runtime.NumCPU() > 1

// Polls returns the number of polls to try before sleeping.
func (b *Budget) Polls() int {
	if !multiCPU || runtime.GOMAXPROCS(0) == 1 {
		return 0
	}
	n := int(b.n.Load())
	if n == 0 {
		return initial
	}
	return n
}

// Success records that a spin ended with the condition met.
func (b *Budget) Success() {
	n := b.n.Load()
	if n == 0 {
		n = initial
	}
	if n < Max {
		b.n.Store(min(n*2, Max))
	}
}

// Failure records that a spin ended in a sleep.
func (b *Budget) Failure() {
	n := b.n.Load()
	if n == 0 {
		n = initial
	}
	if n > Min {
		b.n.Store(max(n/2, Min))
	}
}

// Pause spends a few tens of cycles politely: it tells the CPU that this
// is a spin-wait loop (PAUSE on amd64, YIELD on arm64), which frees
// resources for a sibling hyper-thread and reduces memory-order
// mis-speculation when the awaited store arrives.
func Pause() {
	for i := 0; i < 8; i++ {
		pause()
	}
}

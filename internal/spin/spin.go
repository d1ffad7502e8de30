// Package spin implements the bounded, adaptive busy-wait that precedes a
// futex sleep.
//
// A waiter that spins for about as long as a sleep and a wake cost (a few
// microseconds) before it blocks never pays more than twice what the best
// choice would have cost (the classic competitive argument for spin-then-
// block). So a Budget spins for a duration, not a count: it starts at 5 µs,
// doubles after a spin that ends in success (up to 50 µs), halves after one
// that ends in a sleep (down to 2 µs), and converts durations to polls by
// timing the CPU's pause instruction once. Spinning is bounded, and it never
// happens on a machine with one CPU, where it could only delay the process
// being waited for.
package spin

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Budget bounds, as durations of spinning.
const (
	MinSpin     = 2 * time.Microsecond
	InitialSpin = 5 * time.Microsecond
	MaxSpin     = 50 * time.Microsecond
)

// Budget is the adaptive spin budget kept in a handle (not in shared memory:
// it describes this process's experience). Its zero value is ready to use.
// It is safe for concurrent use.
type Budget struct {
	n atomic.Int32 // polls; 0 until first adjusted (then in [min, max])
}

var cal struct {
	once               sync.Once
	min, initial, max_ int32
}

// calibrate converts the budget bounds into polls by timing pauses.
func calibrate() {
	const probes = 2000
	t := time.Now()
	for i := 0; i < probes; i++ {
		pause()
	}
	per := time.Since(t) / probes
	if per <= 0 {
		per = time.Nanosecond
	}
	polls := func(d time.Duration) int32 { return int32(max(d/per, 1)) }
	cal.min, cal.initial, cal.max_ = polls(MinSpin), polls(InitialSpin), polls(MaxSpin)
}

// multiCPU is true when spinning can help: another CPU can run the side we
// wait for while we spin.
var multiCPU = runtime.NumCPU() > 1

// Polls returns the number of polls to try before sleeping.
func (b *Budget) Polls() int {
	if !multiCPU || runtime.GOMAXPROCS(0) == 1 {
		return 0
	}
	cal.once.Do(calibrate)
	if n := b.n.Load(); n != 0 {
		return int(n)
	}
	return int(cal.initial)
}

// Success records that a spin ended with the condition met.
func (b *Budget) Success() {
	n := int32(b.Polls())
	b.n.Store(min(n*2, cal.max_))
}

// Failure records that a spin ended in a sleep.
func (b *Budget) Failure() {
	n := int32(b.Polls())
	b.n.Store(max(n/2, cal.min))
}

// Pause spends a few tens of cycles politely: it tells the CPU that this
// is a spin-wait loop (PAUSE on amd64, YIELD on arm64), which frees
// resources for a sibling hyper-thread and avoids a memory-order
// mis-speculation when the awaited store arrives.
func Pause() { pause() }

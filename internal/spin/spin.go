// Package spin implements the bounded, adaptive busy-wait that precedes a
// futex sleep.
//
// Spinning pays when the other side will act within about what a sleep and
// a wake cost, and wastes a CPU (or delays the very process waited for, if
// they share one) when it will not. So a Budget measures how long its waits
// actually last, spun or slept, and keeps a moving average: when typical
// waits are short (under MaxSpin/2), a wait spins for twice the average
// (at least MinSpin), long enough to catch the usual case; when they are
// long — a busy machine, a slow peer — it sleeps at once, as a plain futex
// would. The measurement does not depend on spinning, so a handle notices
// when waits get short again.
//
// Except in one case: two processes handing work back and forth. When both
// sleep, each waits for the other's wake-up, which on a virtual machine can
// take tens of µs, so each measures long waits and goes on sleeping, though
// the work itself takes a microsecond: a stable slow state. So while waits
// are long, one wait in ProbeEvery spins for MaxSpin, and if that catches
// the event, the average restarts from that wait's duration; the spinning
// side then answers at once, the other side's waits shrink below the
// threshold, and the pair settles on spinning. An idle handle pays one
// MaxSpin of CPU in ProbeEvery waits.
//
// Durations are converted to polls by timing the CPU's pause instruction
// once. On a machine with one CPU, or with GOMAXPROCS=1, it never spins.
package spin

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of a spin, as durations.
const (
	MinSpin = 2 * time.Microsecond
	MaxSpin = 50 * time.Microsecond

	// firstGuess is the average assumed before any wait was measured.
	firstGuess = 2 * time.Microsecond

	// ProbeEvery: while waits are long, one wait in ProbeEvery spins for
	// MaxSpin to find out whether they could be short.
	ProbeEvery = 16
)

// Budget is the adaptive spin budget kept in a handle (not in shared memory:
// it describes this process's experience). Its zero value is ready to use.
// It is safe for concurrent use.
type Budget struct {
	avg   atomic.Int64  // moving average of wait durations, ns; 0: none yet
	waits atomic.Uint32 // waits that found the average long, for probes
}

// Token marks the start of a wait, for Waited.
type Token struct{ start time.Time }

var cal struct {
	once    sync.Once
	perPoll time.Duration
}

// calibrate times the pause instruction.
func calibrate() {
	const probes = 2000
	t := time.Now()
	for i := 0; i < probes; i++ {
		pause()
	}
	cal.perPoll = max(time.Since(t)/probes, time.Nanosecond)
}

// multiCPU is true when spinning can help: another CPU can run the side we
// wait for while we spin.
var multiCPU = runtime.NumCPU() > 1

// Useful reports whether spinning can help here: whether another CPU can
// run the side waited for while this one spins.
func Useful() bool { return multiCPU && runtime.GOMAXPROCS(0) > 1 }

// polls returns how many polls the next wait spins for, and whether the
// wait is a probe.
func (b *Budget) polls() (int, bool) {
	if !Useful() {
		return 0, false
	}
	cal.once.Do(calibrate)
	a := time.Duration(b.avg.Load())
	if a == 0 {
		a = firstGuess
	}
	if a > MaxSpin/2 {
		// Waits are long: sleep at once, but probe now and then.
		if b.waits.Add(1)%ProbeEvery == 0 {
			return int(MaxSpin / cal.perPoll), true
		}
		return 0, false
	}
	return int(max(2*a, MinSpin) / cal.perPoll), false
}

// record folds one wait's duration into the average (weight 1/8).
func (b *Budget) record(d time.Duration) {
	a := b.avg.Load()
	if a == 0 {
		b.avg.Store(int64(d))
		return
	}
	b.avg.Store(a + (int64(d)-a)/8)
}

// Spin polls ready, pausing between polls, for the budget's time, and
// reports whether it held. If it did not, the caller sleeps, and calls
// Waited with the token when its wait is over, so that the budget learns
// how long waits last.
func (b *Budget) Spin(ready func() bool) (bool, Token) {
	t := Token{time.Now()}
	n, probe := b.polls()
	for i := 0; i < n; i++ {
		if ready() {
			d := time.Since(t.start)
			if probe {
				b.avg.Store(int64(max(d, 1))) // waits can be short: start again from this one
			} else {
				b.record(d)
			}
			return true, t
		}
		pause()
	}
	return false, t
}

// Waited records the end of a wait that Spin began and sleeping finished.
func (b *Budget) Waited(t Token) { b.record(time.Since(t.start)) }

// Delay spins for about d, pausing, without polling anything: a side that
// knows its peer needs a moment gives it one without touching the memory
// the peer is writing. Where spinning cannot help (Useful is false) it
// returns at once.
func Delay(d time.Duration) {
	if !Useful() {
		return
	}
	cal.once.Do(calibrate)
	for n := pausesFor(d); n > 0; n-- {
		pause()
	}
}

// pausesFor converts a duration into pauses; calibrate must have run.
func pausesFor(d time.Duration) int { return int(max(d, 0) / cal.perPoll) }

// Pause spends a few tens of cycles politely: it tells the CPU that this
// is a spin-wait loop (PAUSE on amd64, YIELD on arm64), which frees
// resources for a sibling hyper-thread and avoids a memory-order
// mis-speculation when the awaited store arrives.
func Pause() { pause() }

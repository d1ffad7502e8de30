package event

import "sync/atomic"

// Test hooks and offsets for the external tests.
const (
	OffBarCount   = barCount
	OffBarParties = barParties
	OffBarWaiters = barWaiters
	OffBarMembers = barMembers
	OffEvState    = evState
	OffEvWaiters  = evWaiters
)

// WaitersForTest returns the Waiters word: goroutines blocked in Wait.
func (e *Event) WaitersForTest() int { return int(atomic.LoadUint32(e.waiters)) }

// StateForTest returns the State word.
func (e *Event) StateForTest() uint32 { return atomic.LoadUint32(e.state) }

// WaitersForTest returns the Waiters word: goroutines blocked in Wait.
func (b *Barrier) WaitersForTest() int { return int(atomic.LoadUint32(b.waiters)) }

// PartySlotsForTest returns the number of occupied party slots.
func (b *Barrier) PartySlotsForTest() int {
	n := 0
	for i := 0; i < WatchedParties; i++ {
		if atomic.LoadUint64(b.members.Slot(i)) != 0 {
			n++
		}
	}
	return n
}

// SetHookForTest installs f to run between Set's CAS and its wake.
func SetHookForTest(f func()) { testHookSet = f }

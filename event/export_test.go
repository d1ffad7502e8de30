package event

import "sync/atomic"

// Test hooks and offsets for the external tests.
const (
	OffBarCount   = barCount
	OffBarParties = barParties
)

// WaitersForTest returns the Waiters word: goroutines blocked in Wait.
func (e *Event) WaitersForTest() int { return int(atomic.LoadUint32(e.waiters)) }

// StateForTest returns the State word.
func (e *Event) StateForTest() uint32 { return atomic.LoadUint32(e.state) }

// WaitersForTest returns the Waiters word: goroutines blocked in Wait.
func (b *Barrier) WaitersForTest() int { return int(atomic.LoadUint32(b.waiters)) }

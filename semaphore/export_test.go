package semaphore

import "sync/atomic"

// Test hooks and offsets for the external tests.
const (
	OffValue    = offValue
	OffWaiters  = offWaiters
	OffFlags    = offFlags
	OffInitial  = offInitial
	OffOverflow = offOverflow
	OffHolders  = offHolders
)

// WaitersForTest returns the Waiters word: goroutines blocked in Acquire.
func (s *Semaphore) WaitersForTest() int { return int(atomic.LoadUint32(s.waiters)) }

// OverflowForTest returns the Overflow word of a bounded semaphore.
func (s *Semaphore) OverflowForTest() int { return int(atomic.LoadUint32(s.overflow)) }

// FillHoldersForTest stores w in every holder slot of a bounded semaphore.
func (s *Semaphore) FillHoldersForTest(w uint64) {
	for i := 0; i < RecordedHolders; i++ {
		atomic.StoreUint64(s.holders.Slot(i), w)
	}
}

// ReleaseHookForTest installs f to run between Release's CAS and its wake.
func ReleaseHookForTest(f func()) { testHookRelease = f }

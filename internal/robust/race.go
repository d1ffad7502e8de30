//go:build race

package robust

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// The race detector cannot see synchronisation made through shared memory
// outside Go's heap, so goroutines of one process that take turns on a
// robust lock would be reported as racing on the Go memory the lock guards.
// Under -race, Unlock also releases, and Lock acquires, a word in Go memory
// kept per lock word (per address, so every handle on the lock in this
// process shares it): the detector then sees the happens-before edge the
// lock provides.
var raceWords sync.Map // uintptr (lock word address) → *uint64

func raceWord(w *uint64) *uint64 {
	key := uintptrOf(w)
	if v, ok := raceWords.Load(key); ok {
		return v.(*uint64)
	}
	v, _ := raceWords.LoadOrStore(key, new(uint64))
	return v.(*uint64)
}

// RaceAcquire records, for the race detector, an acquire of the lock word w.
func RaceAcquire(w *uint64) { atomic.LoadUint64(raceWord(w)) }

// RaceRelease records, for the race detector, a release of the lock word w.
func RaceRelease(w *uint64) { atomic.AddUint64(raceWord(w), 1) }

func uintptrOf(w *uint64) uintptr { return uintptr(unsafe.Pointer(w)) }

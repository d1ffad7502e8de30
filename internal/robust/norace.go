//go:build !race

package robust

// RaceAcquire records, for the race detector, an acquire of the lock word w;
// without -race it does nothing.
func RaceAcquire(w *uint64) {}

// RaceRelease records, for the race detector, a release of the lock word w;
// without -race it does nothing.
func RaceRelease(w *uint64) {}

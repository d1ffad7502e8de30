//go:build linux

package robust_test

import (
	"context"
	"sync"
	"testing"
)

// TestRaceDetectorSeesTheLock: goroutines guarding ordinary Go memory with a
// robust lock alone are not reported by -race (the lock annotates itself).
func TestRaceDetectorSeesTheLock(t *testing.T) {
	f := newFixture(t)
	counter := 0 // Go memory, guarded only by the robust lock
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				f.mu.Lock(context.Background())
				counter++
				f.mu.Unlock("test")
			}
		}()
	}
	wg.Wait()
	if counter != 4000 {
		t.Fatalf("counter %d, want 4000", counter)
	}
}

//go:build linux

package semaphore_test

import (
	"context"
	"testing"

	"github.com/shmkit/shmkit/internal/ipcbench"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/semaphore"
)

// BenchmarkUncontended: Acquire+Release by one goroutine, with units
// available.
func BenchmarkUncontended(b *testing.B) {
	for _, bounded := range []bool{false, true} {
		name := "kind=counting"
		newSem := semaphore.New
		if bounded {
			name, newSem = "kind=bounded", semaphore.NewBounded
		}
		b.Run(name, func(b *testing.B) {
			s, err := newSem(testutil.Segment(b, 1<<20), "s", 1)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				s.Acquire(ctx)
				s.Release()
			}
		})
	}
}

// BenchmarkPingPong: round trips between two processes through two
// semaphores (go run ./bench's semaphore: each side releases one and
// acquires the other), beside the raw futex and atomic ping-pongs of the
// same run.
func BenchmarkPingPong(b *testing.B) {
	ipcbench.SignalRoundTrips(b, ipcbench.Semaphore, ipcbench.Futex, ipcbench.Atomic)
}

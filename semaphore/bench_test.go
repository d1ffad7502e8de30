//go:build linux

package semaphore_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/shmkit/shmkit/internal/ipcbench"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
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

// semPinger is a ping-pong over two counting semaphores: the parent releases
// "ping" and acquires "pong"; the child does the opposite.
type semPinger struct {
	ping, pong *semaphore.Semaphore
	stop       *uint32
	p          *spawn.Process
	seg        *shm.Segment
}

var semPong = spawn.Register("benchSemaphorePong", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	ping, err := semaphore.Open(seg, "ping")
	if err != nil {
		return err
	}
	pong, err := semaphore.Open(seg, "pong")
	if err != nil {
		return err
	}
	sh, err := openShared(seg)
	if err != nil {
		return err
	}
	for {
		if err := ping.Acquire(ctx); err != nil {
			return err
		}
		if atomic.LoadUint32(&sh.result) == 1 {
			return nil
		}
		if err := pong.Release(); err != nil {
			return err
		}
	}
})

func startSem(b *testing.B) *semPinger {
	seg := testutil.Segment(b, 1<<20)
	ping, err := semaphore.New(seg, "ping", 0)
	if err != nil {
		b.Fatal(err)
	}
	pong, err := semaphore.New(seg, "pong", 0)
	if err != nil {
		b.Fatal(err)
	}
	sh := newShared(b, seg)
	return &semPinger{ping: ping, pong: pong, stop: &sh.result, seg: seg, p: testutil.Start(b, semPong, seg)}
}

func (t *semPinger) Ping() error {
	if err := t.ping.Release(); err != nil {
		return err
	}
	return t.pong.Acquire(context.Background())
}

func (t *semPinger) Close() error {
	atomic.StoreUint32(t.stop, 1)
	t.ping.Release()
	return t.p.Wait()
}

// BenchmarkPingPong: round trips between two processes through two
// semaphores, beside the raw futex and atomic ping-pongs of the same run.
func BenchmarkPingPong(b *testing.B) {
	b.Run("mech=semaphore", func(b *testing.B) {
		t := startSem(b)
		defer t.Close()
		ipcbench.RoundTrip(b, t)
	})
	ipcbench.SignalBaselines(b, ipcbench.Futex, ipcbench.Atomic)
}

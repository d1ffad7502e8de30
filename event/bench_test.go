//go:build linux

package event_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/shmkit/shmkit/event"
	"github.com/shmkit/shmkit/internal/ipcbench"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/spawn"
)

// BenchmarkSetWait: Set on a set event (a no-op), Wait on a set event, and
// a Set+Clear pair with nobody waiting, by one goroutine.
func BenchmarkSetWait(b *testing.B) {
	e, err := event.New(testutil.Segment(b, 1<<20), "e")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("op=set-set", func(b *testing.B) {
		e.Set()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			e.Set()
		}
	})
	b.Run("op=wait-set", func(b *testing.B) {
		e.Set()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			e.Wait(ctx)
		}
	})
	b.Run("op=set-clear", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			e.Set()
			e.Clear()
		}
	})
}

// barrierPinger: each round trip is one round of a two-party barrier.
type barrierPinger struct {
	b  *event.Barrier
	cs *counters
	p  *spawn.Process
}

var barrierPong = spawn.Register("benchBarrierPong", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	b, err := event.OpenBarrier(seg, "b")
	if err != nil {
		return err
	}
	cs, err := openCounters(seg)
	if err != nil {
		return err
	}
	for atomic.LoadUint32(&cs.flag) == 0 {
		if _, err := b.Wait(ctx); err != nil {
			return err
		}
	}
	return nil
})

func startBarrier(b *testing.B) *barrierPinger {
	seg := testutil.Segment(b, 1<<20)
	bar, err := event.NewBarrier(seg, "b", 2)
	if err != nil {
		b.Fatal(err)
	}
	cs := newCounters(b, seg)
	return &barrierPinger{b: bar, cs: cs, p: testutil.Start(b, barrierPong, seg)}
}

func (t *barrierPinger) Ping() error {
	_, err := t.b.Wait(context.Background())
	return err
}

func (t *barrierPinger) Close() error {
	atomic.StoreUint32(&t.cs.flag, 1)
	t.b.Wait(context.Background())
	return t.p.Wait()
}

// BenchmarkPingPong: round trips between two processes through two events
// (go run ./bench's event: each side sets one and waits for and clears the
// other), and rounds of a two-party barrier, beside the raw futex and
// atomic ping-pongs of the same run.
func BenchmarkPingPong(b *testing.B) {
	b.Run("mech=barrier", func(b *testing.B) {
		t := startBarrier(b)
		defer t.Close()
		ipcbench.RoundTrip(b, t)
	})
	ipcbench.SignalRoundTrips(b, ipcbench.Event, ipcbench.Futex, ipcbench.Atomic)
}

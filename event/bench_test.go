//go:build linux

package event_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/shmkit/shmkit/event"
	"github.com/shmkit/shmkit/internal/ipcbench"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/shm"
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

// eventPinger is a ping-pong over two events: the parent sets "ping" and
// waits for "pong"; the child waits for "ping", clears it and sets "pong".
type eventPinger struct {
	ping, pong *event.Event
	cs         *counters
	p          *spawn.Process
	seg        *shm.Segment
}

var eventPong = spawn.Register("benchEventPong", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	ping, err := event.Open(seg, "ping")
	if err != nil {
		return err
	}
	pong, err := event.Open(seg, "pong")
	if err != nil {
		return err
	}
	cs, err := openCounters(seg)
	if err != nil {
		return err
	}
	for {
		if err := ping.Wait(ctx); err != nil {
			return err
		}
		ping.Clear()
		if atomic.LoadUint32(&cs.flag) == 1 {
			return nil
		}
		pong.Set()
	}
})

func startEvent(b *testing.B) *eventPinger {
	seg := testutil.Segment(b, 1<<20)
	ping, err := event.New(seg, "ping")
	if err != nil {
		b.Fatal(err)
	}
	pong, err := event.New(seg, "pong")
	if err != nil {
		b.Fatal(err)
	}
	cs := newCounters(b, seg)
	return &eventPinger{ping: ping, pong: pong, cs: cs, seg: seg, p: testutil.Start(b, eventPong, seg)}
}

func (t *eventPinger) Ping() error {
	t.ping.Set()
	if err := t.pong.Wait(context.Background()); err != nil {
		return err
	}
	t.pong.Clear()
	return nil
}

func (t *eventPinger) Close() error {
	atomic.StoreUint32(&t.cs.flag, 1)
	t.ping.Set()
	return t.p.Wait()
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

// BenchmarkPingPong: round trips between two processes through two events,
// and rounds of a two-party barrier, beside the raw futex and atomic
// ping-pongs of the same run.
func BenchmarkPingPong(b *testing.B) {
	b.Run("mech=event", func(b *testing.B) {
		t := startEvent(b)
		defer t.Close()
		ipcbench.RoundTrip(b, t)
	})
	b.Run("mech=barrier", func(b *testing.B) {
		t := startBarrier(b)
		defer t.Close()
		ipcbench.RoundTrip(b, t)
	})
	ipcbench.SignalBaselines(b, ipcbench.Futex, ipcbench.Atomic)
}

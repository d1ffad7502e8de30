//go:build linux

package event_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/event"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// counters are plain words in the segment for handshakes and results.
type counters struct {
	_      uint32
	woken  uint32
	flag   uint32
	result uint32
	ns     int64
}

func newCounters(tb testing.TB, seg *shm.Segment) *counters {
	return testutil.Overlay[counters](tb, seg, "counters")
}

func openCounters(seg *shm.Segment) (*counters, error) {
	return testutil.OpenOverlay[counters](seg, "counters")
}

// eventWaiter waits for "e" in two goroutines, and counts them when they
// return. A Set that does not wake every waiter makes it fail after 5 s
// rather than hang.
var eventWaiter = spawn.Register("TestEventWaiters.waiter", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	e, err := event.Open(seg, "e")
	if err != nil {
		return err
	}
	cs, err := openCounters(seg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	errs := make(chan error, 2)
	for g := 0; g < 2; g++ {
		go func() {
			err := e.Wait(ctx)
			if err == nil && ctx.Err() != nil {
				err = errors.New("Wait returned only when its context ended: Set did not wake it")
			}
			if err == nil {
				atomic.AddUint32(&cs.woken, 1)
			}
			errs <- err
		}()
	}
	return errors.Join(<-errs, <-errs)
})

func TestEventWaiters(t *testing.T) {
	for _, clear := range []bool{false, true} {
		t.Run(fmt.Sprintf("clear=%v", clear), func(t *testing.T) {
			seg := testutil.Segment(t, 1<<20)
			e, err := event.New(seg, "e")
			if err != nil {
				t.Fatal(err)
			}
			cs := newCounters(t, seg)
			const procs = 3
			ps := testutil.StartN(t, procs, eventWaiter, seg)
			testutil.WaitFor(t, testutil.Timeout, "every waiter to block", func() bool { return e.WaitersForTest() == 2*procs })
			e.Set()
			if clear {
				// Set then Clear at once: every goroutine that was
				// waiting still returns.
				e.Clear()
			}
			testutil.WaitAll(t, ps...)
			if w := atomic.LoadUint32(&cs.woken); w != 2*procs {
				t.Fatalf("%d waiters returned nil, want %d", w, 2*procs)
			}
			if e.IsSet() == clear {
				t.Fatalf("IsSet = %v", e.IsSet())
			}
		})
	}
}

// eventLate waits for "e", which the parent set before starting it.
var eventLate = spawn.Register("TestEventSetBeforeWait.waiter", func(ctx context.Context, c *spawn.Child) error {
	e, err := event.Open(c.Segments()[0], "e")
	if err != nil {
		return err
	}
	if !e.IsSet() {
		return errors.New("IsSet = false after Set in another process")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return e.Wait(ctx)
})

func TestEventSetBeforeWait(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	e, err := event.New(seg, "e")
	if err != nil {
		t.Fatal(err)
	}
	if e.IsSet() {
		t.Fatal("a new Event is set")
	}
	e.Set()
	before := e.StateForTest()
	e.Set() // no-op
	if after := e.StateForTest(); after != before {
		t.Fatalf("Set on a set Event changed its state from %#x to %#x", before, after)
	}
	testutil.WaitAll(t, testutil.Start(t, eventLate, seg))
}

func TestEventClearAndContext(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	e, err := event.New(seg, "e")
	if err != nil {
		t.Fatal(err)
	}
	e.Set()
	e.Clear()
	if e.IsSet() {
		t.Fatal("IsSet after Clear")
	}
	e.Clear() // no-op
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer dcancel()
	if err := e.Wait(dctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on a clear Event past deadline = %v, want DeadlineExceeded", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- e.Wait(ctx) }()
	testutil.WaitFor(t, testutil.Timeout, "Wait to block", func() bool { return e.WaitersForTest() == 1 })
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait cancelled = %v, want context.Canceled", err)
	}
	if w := e.WaitersForTest(); w != 0 {
		t.Fatalf("Waiters = %d after the cancelled Wait returned", w)
	}
	// Still usable.
	go func() { res <- e.Wait(context.Background()) }()
	testutil.WaitFor(t, testutil.Timeout, "Wait to block", func() bool { return e.WaitersForTest() == 1 })
	e.Set()
	if err := <-res; err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if err := e.Wait(context.Background()); err != nil {
		t.Fatalf("Wait on a set Event = %v", err)
	}
}

func TestOpenEvent(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	a, err := event.New(seg, "e")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := event.New(seg, "e"); !errors.Is(err, shm.ErrExist) {
		t.Errorf("New of a taken name = %v, want ErrExist", err)
	}
	if _, err := event.Open(seg, "nope"); !errors.Is(err, shm.ErrNotExist) {
		t.Errorf("Open of a missing name = %v, want ErrNotExist", err)
	}
	if _, err := event.NewBarrier(seg, "b", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := event.Open(seg, "b"); !errors.Is(err, shm.ErrWrongKind) {
		t.Errorf("Open of a barrier = %v, want ErrWrongKind", err)
	}
	b, err := event.Open(seg, "e")
	if err != nil {
		t.Fatal(err)
	}
	a.Set()
	if !b.IsSet() {
		t.Error("a Set through one handle is not seen through another")
	}
}

// setAndDie sets "e" and stops between the CAS and the wake, to be killed
// there.
var setAndDie = spawn.Register("TestEventSetterKilled.setter", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	e, err := event.Open(seg, "e")
	if err != nil {
		return err
	}
	cs, err := openCounters(seg)
	if err != nil {
		return err
	}
	event.SetHookForTest(func() {
		atomic.StoreUint32(&cs.flag, 1)
		<-ctx.Done()
	})
	e.Set()
	return nil
})

// A setter killed after raising the flag but before waking anyone: the
// sleepers notice anyway, when their bounded sleep ends.
func TestEventSetterKilled(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	e, err := event.New(seg, "e")
	if err != nil {
		t.Fatal(err)
	}
	cs := newCounters(t, seg)
	res := make(chan error, 1)
	go func() { res <- e.Wait(context.Background()) }()
	testutil.WaitFor(t, testutil.Timeout, "Wait to block", func() bool { return e.WaitersForTest() == 1 })
	p := testutil.Start(t, setAndDie, seg)
	testutil.WaitFor(t, testutil.Timeout, "the setter to stop before its wake", func() bool { return atomic.LoadUint32(&cs.flag) == 1 })
	p.Kill()
	p.Wait()
	select {
	case err := <-res:
		if err != nil {
			t.Fatalf("Wait = %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("a waiter stayed asleep for a second after the event was set")
	}
}

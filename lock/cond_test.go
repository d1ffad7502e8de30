//go:build linux

package lock_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

// slot is a one-item mailbox protected by a Mutex, with two Conds.
type slot struct {
	full  int64 // plain, under the Mutex: 1 when item holds a value
	item  int64 // plain, under the Mutex
	sum   int64 // plain, consumer only
	count int64
	ready int64 // plain, under the Mutex: waiters that have registered
	flag  int64 // plain, under the Mutex
}

// condSet is a Mutex "m", its Conds "notfull" and "notempty", and the
// slot they guard.
type condSet struct {
	m                 *lock.Mutex
	notFull, notEmpty *lock.Cond
	s                 *slot
}

func newCondSet(tb testing.TB, seg *shm.Segment) *condSet {
	tb.Helper()
	m, err := lock.NewMutex(seg, "m")
	if err != nil {
		tb.Fatal(err)
	}
	nf, err := lock.NewCond(seg, "notfull", m)
	if err != nil {
		tb.Fatal(err)
	}
	ne, err := lock.NewCond(seg, "notempty", m)
	if err != nil {
		tb.Fatal(err)
	}
	return &condSet{m: m, notFull: nf, notEmpty: ne, s: testutil.Overlay[slot](tb, seg, "slot")}
}

func openCondSet(seg *shm.Segment) (*condSet, error) {
	m, err := lock.OpenMutex(seg, "m")
	if err != nil {
		return nil, err
	}
	nf, err := lock.OpenCond(seg, "notfull", m)
	if err != nil {
		return nil, err
	}
	ne, err := lock.OpenCond(seg, "notempty", m)
	if err != nil {
		return nil, err
	}
	s, err := testutil.OpenOverlay[slot](seg, "slot")
	if err != nil {
		return nil, err
	}
	return &condSet{m: m, notFull: nf, notEmpty: ne, s: s}, nil
}

// condConsumer takes args[0] items from the mailbox, checking their order.
var condConsumer = spawn.Register("TestCondProducerConsumer.consumer", func(ctx context.Context, c *spawn.Child) error {
	cs, err := openCondSet(c.Segments()[0])
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(c.Args()[0])
	ctx, cancel := context.WithTimeout(ctx, testutil.Timeout)
	defer cancel()
	for i := 1; i <= n; i++ {
		cs.m.Lock()
		for cs.s.full == 0 {
			if err := cs.notEmpty.Wait(ctx); err != nil {
				cs.m.Unlock()
				return fmt.Errorf("round %d: %w", i, err)
			}
		}
		if cs.s.item != int64(i) {
			cs.m.Unlock()
			return fmt.Errorf("got item %d, want %d", cs.s.item, i)
		}
		cs.s.sum += cs.s.item
		cs.s.count++
		cs.s.full = 0
		cs.notFull.Signal()
		cs.m.Unlock()
	}
	return nil
})

func TestCondProducerConsumer(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	cs := newCondSet(t, seg)
	m, notFull, notEmpty, s := cs.m, cs.notFull, cs.notEmpty, cs.s
	n := testutil.Size(10_000, 10)
	consumer := testutil.Start(t, condConsumer, seg, strconv.Itoa(n))
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
	defer cancel()
	for i := 1; i <= n; i++ {
		m.Lock()
		for s.full == 1 {
			if err := notFull.Wait(ctx); err != nil {
				m.Unlock()
				t.Fatalf("round %d: %v", i, err)
			}
		}
		s.item = int64(i)
		s.full = 1
		notEmpty.Signal()
		m.Unlock()
	}
	testutil.WaitAll(t, consumer)
	if want := int64(n) * int64(n+1) / 2; s.count != int64(n) || s.sum != want {
		t.Fatalf("consumer took %d items summing to %d, want %d summing to %d", s.count, s.sum, n, want)
	}
}

// condWaiter waits in two goroutines for flag to be set, counting itself
// ready under the Mutex first.
var condWaiter = spawn.Register("TestCondBroadcast.waiter", func(ctx context.Context, c *spawn.Child) error {
	cs, err := openCondSet(c.Segments()[0])
	if err != nil {
		return err
	}
	// Signal instead of Broadcast would leave waiters asleep: bound the
	// wait so that the test fails rather than hangs.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	errs := make(chan error, 2)
	for g := 0; g < 2; g++ {
		go func() {
			cs.m.Lock()
			cs.s.ready++
			for cs.s.flag == 0 {
				if err := cs.notEmpty.Wait(ctx); err != nil {
					cs.m.Unlock()
					errs <- err
					return
				}
			}
			cs.s.count++
			cs.m.Unlock()
			errs <- nil
		}()
	}
	return errors.Join(<-errs, <-errs)
})

func TestCondBroadcast(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	cs := newCondSet(t, seg)
	m, c, s := cs.m, cs.notEmpty, cs.s
	const procs = 3
	ps := testutil.StartN(t, procs, condWaiter, seg)
	// A waiter counts itself under the Mutex and releases the Mutex only
	// inside Wait, after registering: ready == 2*procs under the Mutex means
	// every waiter is registered.
	testutil.WaitFor(t, testutil.Timeout, "every waiter to wait", func() bool {
		m.Lock()
		defer m.Unlock()
		return s.ready == 2*procs
	})
	m.Lock()
	s.flag = 1
	c.Broadcast()
	m.Unlock()
	testutil.WaitAll(t, ps...)
	if s.count != 2*procs {
		t.Fatalf("%d waiters woke, want %d", s.count, 2*procs)
	}
}

// condHolder takes the Mutex, signals, and waits to be killed holding it.
var condHolder = spawn.Register("TestCondOwnerDead.holder", func(ctx context.Context, c *spawn.Child) error {
	cs, err := openCondSet(c.Segments()[0])
	if err != nil {
		return err
	}
	cs.m.Lock()
	cs.s.flag = 1
	cs.notEmpty.Broadcast()
	cs.s.ready = 1
	<-ctx.Done()
	return nil
})

func TestCondOwnerDead(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	cs := newCondSet(t, seg)
	m, c, s := cs.m, cs.notEmpty, cs.s
	m.Lock()
	holder := testutil.Start(t, condHolder, seg)
	res := make(chan error, 1)
	go func() {
		// The holder takes the Mutex after Wait released it, wakes us,
		// and dies holding it.
		res <- c.Wait(context.Background())
	}()
	// ready is set by the holder under the Mutex it keeps: read it raw.
	testutil.WaitFor(t, testutil.Timeout, "the holder to signal", func() bool { return atomic.LoadInt64(&s.ready) == 1 })
	holder.Kill()
	holder.Wait()
	if err := <-res; !errors.Is(err, lock.ErrOwnerDead) {
		t.Fatalf("Wait = %v, want ErrOwnerDead", err)
	}
	if got := m.Holder(); got != os.Getpid() {
		t.Fatalf("after Wait the Mutex is held by %d, want this process (%d)", got, os.Getpid())
	}
	m.Unlock()
}

func TestCondContext(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	m, err := lock.NewMutex(seg, "m")
	if err != nil {
		t.Fatal(err)
	}
	c, err := lock.NewCond(seg, "c", m)
	if err != nil {
		t.Fatal(err)
	}
	m.Lock()
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- c.Wait(ctx) }()
	// Wait releases the Mutex; take it, cancel, and release it again:
	// Wait must then return, holding the Mutex.
	m.Lock()
	cancel()
	m.Unlock()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait cancelled = %v, want context.Canceled", err)
	}
	if got := m.Holder(); got != os.Getpid() {
		t.Fatalf("after a cancelled Wait the Mutex is held by %d, want %d", got, os.Getpid())
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer dcancel()
	if err := c.Wait(dctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait past deadline = %v, want context.DeadlineExceeded", err)
	}
	if m.TryLock() {
		t.Fatal("the Mutex is not held after Wait returned")
	}
	// Still usable: a Signal from another goroutine wakes a Wait.
	go func() {
		m.Lock()
		c.Signal()
		m.Unlock()
	}()
	if err := c.Wait(context.Background()); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	m.Unlock()
	testutil.MustPanic(t, `lock: Mutex "m": Cond.Wait by a process that does not hold the mutex`, func() { c.Wait(context.Background()) })
}

func TestOpenCond(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	m, err := lock.NewMutex(seg, "m")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.NewCond(seg, "c", m); err != nil {
		t.Fatal(err)
	}
	if _, err := lock.NewCond(seg, "c", m); !errors.Is(err, shm.ErrExist) {
		t.Errorf("NewCond of a taken name = %v, want ErrExist", err)
	}
	if _, err := lock.OpenCond(seg, "m", m); !errors.Is(err, shm.ErrWrongKind) {
		t.Errorf("OpenCond of a mutex = %v, want ErrWrongKind", err)
	}
	if _, err := lock.OpenCond(seg, "nope", m); !errors.Is(err, shm.ErrNotExist) {
		t.Errorf("OpenCond of a missing name = %v, want ErrNotExist", err)
	}
	if _, err := lock.OpenCond(seg, "c", nil); err == nil {
		t.Error("OpenCond accepted a nil Mutex")
	}
}

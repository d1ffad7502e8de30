//go:build linux

package semaphore_test

import (
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/holders"
	"github.com/shmkit/shmkit/internal/proc"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// shared holds the tests' counters and handshakes.
type shared struct {
	inside  int32 // atomic: holders of a unit right now
	most    int32 // atomic: most holders seen at once
	bad     int32 // atomic: times more than the limit held at once
	started uint32
	total   int64 // atomic: acquisitions
}

func newShared(tb testing.TB, seg *shm.Segment) *shared {
	return testutil.Overlay[shared](tb, seg, "shared")
}

func openShared(seg *shm.Segment) (*shared, error) {
	return testutil.OpenOverlay[shared](seg, "shared")
}

// openChild opens, in a child, the semaphore "s" and the shared words of
// the segment it was given.
func openChild(c *spawn.Child) (*semaphore.Semaphore, *shared, error) {
	seg := c.Segments()[0]
	s, err := semaphore.Open(seg, "s")
	if err != nil {
		return nil, nil, err
	}
	sh, err := openShared(seg)
	return s, sh, err
}

// limitWorker acquires and releases args[0] times in each of two goroutines, counting the holders
// inside at once against the limit args[1].
var limitWorker = spawn.Register("TestSemaphoreLimit.worker", func(ctx context.Context, c *spawn.Child) error {
	s, sh, err := openChild(c)
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(c.Args()[0])
	limit, _ := strconv.Atoi(c.Args()[1])
	procs, _ := strconv.Atoi(c.Args()[2])
	if err := testutil.StartBarrier(&sh.started, procs); err != nil {
		return err
	}
	// Two goroutines per process, each yielding while it holds a unit, so
	// that holders overlap even on a machine with few CPUs.
	errs := make(chan error, 2)
	for g := 0; g < 2; g++ {
		go func() {
			for i := 0; i < n; i++ {
				if err := s.Acquire(ctx); err != nil {
					errs <- err
					return
				}
				in := atomic.AddInt32(&sh.inside, 1)
				if in > int32(limit) {
					atomic.AddInt32(&sh.bad, 1)
				}
				for {
					m := atomic.LoadInt32(&sh.most)
					if in <= m || atomic.CompareAndSwapInt32(&sh.most, m, in) {
						break
					}
				}
				runtime.Gosched()
				atomic.AddInt64(&sh.total, 1)
				atomic.AddInt32(&sh.inside, -1)
				if err := s.Release(); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	if err := errors.Join(<-errs, <-errs); err != nil {
		return err
	}
	return nil
})

func TestSemaphoreLimit(t *testing.T) {
	for _, bounded := range []bool{false, true} {
		t.Run("bounded="+strconv.FormatBool(bounded), func(t *testing.T) {
			seg := testutil.Segment(t, 1<<20)
			const limit, procs = 2, 4
			newSem := semaphore.New
			if bounded {
				newSem = semaphore.NewBounded
			}
			s, err := newSem(seg, "s", limit)
			if err != nil {
				t.Fatal(err)
			}
			sh := newShared(t, seg)
			n := testutil.Size(5_000, 10)
			ps := testutil.StartN(t, procs, limitWorker, seg, strconv.Itoa(n), strconv.Itoa(limit), strconv.Itoa(procs))
			testutil.WaitAll(t, ps...)
			if bad := atomic.LoadInt32(&sh.bad); bad != 0 {
				t.Fatalf("more than %d holders at once, %d times (at most %d)", limit, bad, sh.most)
			}
			if sh.total != int64(2*procs*n) {
				t.Fatalf("%d acquisitions, want %d", sh.total, 2*procs*n)
			}
			if v := s.Value(); v != limit {
				t.Fatalf("Value = %d after every unit came back, want %d", v, limit)
			}
			t.Logf("at most %d holders at once", sh.most)
		})
	}
}

func TestSemaphoreOverRelease(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	b, err := semaphore.NewBounded(seg, "b", 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Release(); !errors.Is(err, semaphore.ErrOverRelease) {
		t.Fatalf("Release of a full bounded semaphore = %v, want ErrOverRelease", err)
	}
	for i := 0; i < 2; i++ {
		if !b.TryAcquire() {
			t.Fatalf("TryAcquire %d failed with units available", i)
		}
	}
	if b.TryAcquire() {
		t.Fatal("TryAcquire succeeded with no unit available")
	}
	if v := b.Value(); v != 0 {
		t.Fatalf("Value = %d, want 0", v)
	}
	for i := 0; i < 2; i++ {
		if err := b.Release(); err != nil {
			t.Fatalf("Release %d = %v", i, err)
		}
	}
	if err := b.Release(); !errors.Is(err, semaphore.ErrOverRelease) {
		t.Fatalf("third Release = %v, want ErrOverRelease", err)
	}
	if v := b.Value(); v != 2 {
		t.Fatalf("Value = %d after a refused Release, want 2", v)
	}

	c, err := semaphore.New(seg, "c", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := c.Release(); err != nil {
			t.Fatalf("Release of a counting semaphore = %v", err)
		}
	}
	if v := c.Value(); v != 3 {
		t.Fatalf("counting Value = %d, want 3", v)
	}
	top, err := semaphore.New(seg, "top", semaphore.MaxValue)
	if err != nil {
		t.Fatal(err)
	}
	if err := top.Release(); !errors.Is(err, semaphore.ErrOverRelease) {
		t.Fatalf("Release at MaxValue = %v, want ErrOverRelease", err)
	}
	for _, bad := range []int{-1, semaphore.MaxValue + 1} {
		if _, err := semaphore.New(seg, "bad"+strconv.Itoa(bad), bad); err == nil {
			t.Errorf("New with initial %d succeeded", bad)
		}
	}
}

// releaser releases one unit of "s".
var releaser = spawn.Register("TestSemaphoreContext.releaser", func(ctx context.Context, c *spawn.Child) error {
	s, err := semaphore.Open(c.Segments()[0], "s")
	if err != nil {
		return err
	}
	return s.Release()
})

func TestSemaphoreContext(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	s, err := semaphore.New(seg, "s", 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- s.Acquire(ctx) }()
	testutil.WaitFor(t, testutil.Timeout, "Acquire to block", func() bool { return s.WaitersForTest() == 1 })
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire cancelled = %v, want context.Canceled", err)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer dcancel()
	if err := s.Acquire(dctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire past deadline = %v, want context.DeadlineExceeded", err)
	}
	if v, w := s.Value(), s.WaitersForTest(); v != 0 || w != 0 {
		t.Fatalf("after cancelled Acquires: Value %d, Waiters %d, want 0, 0", v, w)
	}
	// Still usable: a Release in another process wakes a blocked Acquire.
	go func() { res <- s.Acquire(context.Background()) }()
	testutil.WaitFor(t, testutil.Timeout, "Acquire to block", func() bool { return s.WaitersForTest() == 1 })
	testutil.WaitAll(t, testutil.Start(t, releaser, seg))
	if err := <-res; err != nil {
		t.Fatalf("Acquire = %v", err)
	}
	if v := s.Value(); v != 0 {
		t.Fatalf("Value = %d, want 0", v)
	}
	// A unit available wins over a context already done.
	s.Release()
	done, dc := context.WithCancel(context.Background())
	dc()
	if err := s.Acquire(done); err != nil {
		t.Fatalf("Acquire with a unit available and ctx done = %v, want nil", err)
	}
}

// holder acquires args[0] units and waits to be killed.
var holder = spawn.Register("TestSemaphoreDeadHolder.holder", func(ctx context.Context, c *spawn.Child) error {
	s, sh, err := openChild(c)
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(c.Args()[0])
	for i := 0; i < n; i++ {
		if err := s.Acquire(ctx); err != nil {
			return err
		}
	}
	atomic.StoreUint32(&sh.started, 1)
	<-ctx.Done()
	return nil
})

func TestSemaphoreDeadHolder(t *testing.T) {
	t.Run("bounded", func(t *testing.T) {
		seg := testutil.Segment(t, 1<<20)
		s, err := semaphore.NewBounded(seg, "s", 3)
		if err != nil {
			t.Fatal(err)
		}
		sh := newShared(t, seg)
		p := testutil.Start(t, holder, seg, "3")
		testutil.WaitFor(t, testutil.Timeout, "the holder to take its units", func() bool { return atomic.LoadUint32(&sh.started) == 1 })
		if s.TryAcquire() {
			t.Fatal("TryAcquire succeeded with every unit held")
		}
		res := make(chan error, 1)
		go func() { res <- s.Acquire(context.Background()) }()
		testutil.WaitFor(t, testutil.Timeout, "Acquire to block", func() bool { return s.WaitersForTest() == 1 })
		p.Kill()
		p.Wait()
		died := time.Now()
		if err := <-res; err != nil {
			t.Fatal(err)
		}
		took := time.Since(died)
		t.Logf("the dead holder's units came back %v after it was reaped", took)
		if took > time.Second {
			t.Errorf("recovery took %v", took)
		}
		if v := s.Value(); v != 2 {
			t.Fatalf("Value = %d after 3 units came back and 1 was taken, want 2", v)
		}
		s.Release()
		if err := s.Release(); !errors.Is(err, semaphore.ErrOverRelease) {
			t.Fatalf("Release beyond the bound after recovery = %v, want ErrOverRelease", err)
		}
	})
	t.Run("counting", func(t *testing.T) {
		// A counting semaphore does not record holders: the units of a
		// dead holder are lost, as with a POSIX semaphore.
		seg := testutil.Segment(t, 1<<20)
		s, err := semaphore.New(seg, "s", 1)
		if err != nil {
			t.Fatal(err)
		}
		sh := newShared(t, seg)
		p := testutil.Start(t, holder, seg, "1")
		testutil.WaitFor(t, testutil.Timeout, "the holder to take its unit", func() bool { return atomic.LoadUint32(&sh.started) == 1 })
		p.Kill()
		p.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Millisecond)
		defer cancel()
		if err := s.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Acquire = %v, want DeadlineExceeded (the unit is lost)", err)
		}
	})
}

// A unit acquired in one process and released in another is taken out of
// the acquirer's record: its death later gives nothing back twice.
func TestSemaphoreCrossProcessRelease(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	s, err := semaphore.NewBounded(seg, "s", 2)
	if err != nil {
		t.Fatal(err)
	}
	sh := newShared(t, seg)
	p := testutil.Start(t, holder, seg, "1")
	testutil.WaitFor(t, testutil.Timeout, "the holder to take its unit", func() bool { return atomic.LoadUint32(&sh.started) == 1 })
	if err := s.Release(); err != nil { // on the holder's behalf
		t.Fatal(err)
	}
	if err := s.Release(); !errors.Is(err, semaphore.ErrOverRelease) {
		t.Fatalf("second Release = %v, want ErrOverRelease", err)
	}
	p.Kill()
	p.Wait()
	for i := 0; i < 2; i++ {
		if !s.TryAcquire() {
			t.Fatalf("TryAcquire %d failed with 2 units available", i)
		}
	}
	// Blocking past a look for dead holders finds none to give back.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Millisecond)
	defer cancel()
	if err := s.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire = %v, want DeadlineExceeded: the dead process's unit was already released", err)
	}
	if v := s.Value(); v != 0 {
		t.Fatalf("Value = %d, want 0", v)
	}
}

// idle waits to be killed; its identity fills the holder table.
var idle = spawn.Register("TestSemaphoreHolderTableFull.idle", func(ctx context.Context, c *spawn.Child) error {
	<-ctx.Done()
	return nil
})

// With the holder table full, units are counted in Overflow and still come
// back on Release.
func TestSemaphoreHolderTableFull(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	s, err := semaphore.NewBounded(seg, "s", 1)
	if err != nil {
		t.Fatal(err)
	}
	p := testutil.Start(t, idle, seg)
	defer func() { p.Kill(); p.Wait() }()
	st, err := proc.StartTime(p.Pid())
	if err != nil {
		t.Fatal(err)
	}
	s.FillHoldersForTest(holders.Pack(proc.Make(p.Pid(), st), 0)) // live, holding nothing
	if !s.TryAcquire() {
		t.Fatal("TryAcquire failed")
	}
	if o := s.OverflowForTest(); o != 1 {
		t.Fatalf("Overflow = %d with the table full, want 1", o)
	}
	if err := s.Release(); err != nil {
		t.Fatal(err)
	}
	if o, v := s.OverflowForTest(), s.Value(); o != 0 || v != 1 {
		t.Fatalf("Overflow, Value = %d, %d after Release, want 0, 1", o, v)
	}
}

func TestOpenSemaphore(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	if _, err := semaphore.NewBounded(seg, "s", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := semaphore.New(seg, "s", 2); !errors.Is(err, shm.ErrExist) {
		t.Errorf("New of a taken name = %v, want ErrExist", err)
	}
	if _, err := semaphore.Open(seg, "nope"); !errors.Is(err, shm.ErrNotExist) {
		t.Errorf("Open of a missing name = %v, want ErrNotExist", err)
	}
	if _, err := shm.NewBytes(seg, "bytes", 64); err != nil {
		t.Fatal(err)
	}
	if _, err := semaphore.Open(seg, "bytes"); !errors.Is(err, shm.ErrWrongKind) {
		t.Errorf("Open of a bytes object = %v, want ErrWrongKind", err)
	}
	s, err := semaphore.Open(seg, "s")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Release(); !errors.Is(err, semaphore.ErrOverRelease) {
		t.Errorf("an opened bounded semaphore is not bounded: Release = %v", err)
	}
}

// TestOpenCorrupt changes one field per row and checks that Open reports it.
func TestOpenCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		off   int
		value uint32
		field string
	}{
		{"unknown flags", semaphore.OffFlags, 6, "flags"},
		{"initial above MaxValue", semaphore.OffInitial, 1 << 31, "initial"},
		{"value above the bound", semaphore.OffValue, 3, "value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seg := testutil.Segment(t, 1<<20)
			if _, err := semaphore.NewBounded(seg, "s", 2); err != nil {
				t.Fatal(err)
			}
			off := testutil.ObjectOffset(t, seg, "s")
			b := binary.NativeEndian.AppendUint32(nil, tc.value)
			if _, err := seg.File().WriteAt(b, off+int64(tc.off)); err != nil {
				t.Fatal(err)
			}
			_, err := semaphore.Open(seg, "s")
			var se *shm.Error
			if !errors.Is(err, shm.ErrCorrupt) || !errors.As(err, &se) {
				t.Fatalf("Open = %v, want ErrCorrupt in an *shm.Error", err)
			}
			if se.Object != "s" || se.Field != tc.field || se.Offset != off+int64(tc.off) {
				t.Fatalf("error names object %q field %q at %d, want %q %q at %d", se.Object, se.Field, se.Offset, "s", tc.field, off+int64(tc.off))
			}
		})
	}
}

// releaseAndDie releases "s" and stops between the CAS and the wake, to be
// killed there.
var releaseAndDie = spawn.Register("TestSemaphoreReleaserKilled.releaser", func(ctx context.Context, c *spawn.Child) error {
	s, sh, err := openChild(c)
	if err != nil {
		return err
	}
	semaphore.ReleaseHookForTest(func() {
		atomic.StoreUint32(&sh.started, 1)
		<-ctx.Done()
	})
	return s.Release()
})

// A releaser killed after adding its unit but before waking anyone: the
// sleeper notices anyway, when its bounded sleep ends.
func TestSemaphoreReleaserKilled(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	s, err := semaphore.New(seg, "s", 0)
	if err != nil {
		t.Fatal(err)
	}
	sh := newShared(t, seg)
	res := make(chan error, 1)
	go func() { res <- s.Acquire(context.Background()) }()
	testutil.WaitFor(t, testutil.Timeout, "Acquire to block", func() bool { return s.WaitersForTest() == 1 })
	p := testutil.Start(t, releaseAndDie, seg)
	testutil.WaitFor(t, testutil.Timeout, "the releaser to stop before its wake", func() bool { return atomic.LoadUint32(&sh.started) == 1 })
	p.Kill()
	p.Wait()
	select {
	case err := <-res:
		if err != nil {
			t.Fatalf("Acquire = %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("an Acquire stayed asleep for a second after a unit was released")
	}
}

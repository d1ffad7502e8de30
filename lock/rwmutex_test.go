//go:build linux

package lock_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/holders"
	"github.com/shmkit/shmkit/internal/proc"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

// rwShared is the data an RWMutex protects in the tests, and their
// handshakes.
type rwShared struct {
	a, b       int64 // plain: written under the write lock; a == b outside it
	readers    int32 // atomic: readers inside the read lock
	writers    int32 // atomic: writers inside the write lock
	bad        int32 // atomic: violations seen
	maxReaders int32 // atomic: most readers seen inside at once
	reads      int64 // atomic: read sections completed
	started    uint32
	stop       uint32
	result     uint32
	_          uint32
}

// newRW creates what openRW opens: the RWMutex "rw" and the words beside it.
func newRW(tb testing.TB, seg *shm.Segment) (*lock.RWMutex, *rwShared) {
	tb.Helper()
	rw, err := lock.NewRWMutex(seg, "rw")
	if err != nil {
		tb.Fatal(err)
	}
	return rw, testutil.Overlay[rwShared](tb, seg, "rwshared")
}

func openRW(seg *shm.Segment) (*lock.RWMutex, *rwShared, error) {
	rw, err := lock.OpenRWMutex(seg, "rw")
	if err != nil {
		return nil, nil, err
	}
	sh, err := testutil.OpenOverlay[rwShared](seg, "rwshared")
	if err != nil {
		return nil, nil, err
	}
	return rw, sh, nil
}

// waitForWriter waits until a writer waits for rw, held for reading: from
// then on TryRLock fails, as a waiting writer keeps new readers out.
func waitForWriter(t *testing.T, rw *lock.RWMutex) {
	t.Helper()
	testutil.WaitFor(t, testutil.Timeout, "the writer to wait", func() bool {
		if rw.TryRLock() {
			rw.RUnlock()
			return false
		}
		return true
	})
}

// rwWriter makes args[0] locked double increments of a and b, checking that
// it is alone.
var rwWriter = spawn.Register("TestRWMutexExclusion.writer", func(ctx context.Context, c *spawn.Child) error {
	rw, sh, err := openRW(c.Segments()[0])
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(c.Args()[0])
	procs, _ := strconv.Atoi(c.Args()[1])
	if err := testutil.StartBarrier(&sh.started, procs); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		rw.Lock()
		if atomic.AddInt32(&sh.writers, 1) != 1 || atomic.LoadInt32(&sh.readers) != 0 {
			atomic.AddInt32(&sh.bad, 1)
		}
		sh.a++
		sh.b++
		atomic.AddInt32(&sh.writers, -1)
		rw.Unlock()
	}
	return nil
})

// rwReader read-locks in two goroutines until told to stop, checking that no
// writer is inside and that a == b.
var rwReader = spawn.Register("TestRWMutexExclusion.reader", func(ctx context.Context, c *spawn.Child) error {
	rw, sh, err := openRW(c.Segments()[0])
	if err != nil {
		return err
	}
	procs, _ := strconv.Atoi(c.Args()[0])
	if err := testutil.StartBarrier(&sh.started, procs); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.LoadUint32(&sh.stop) == 0 {
				rw.RLock()
				n := atomic.AddInt32(&sh.readers, 1)
				for {
					m := atomic.LoadInt32(&sh.maxReaders)
					if n <= m || atomic.CompareAndSwapInt32(&sh.maxReaders, m, n) {
						break
					}
				}
				if atomic.LoadInt32(&sh.writers) != 0 || sh.a != sh.b {
					atomic.AddInt32(&sh.bad, 1)
				}
				atomic.AddInt32(&sh.readers, -1)
				rw.RUnlock()
				atomic.AddInt64(&sh.reads, 1)
			}
		}()
	}
	wg.Wait()
	return nil
})

func TestRWMutexExclusion(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	_, sh := newRW(t, seg)
	const writers, readers = 2, 2
	n := testutil.Size(20_000, 10)
	procs := strconv.Itoa(writers + readers)
	ws := testutil.StartN(t, writers, rwWriter, seg, strconv.Itoa(n), procs)
	rs := testutil.StartN(t, readers, rwReader, seg, procs)
	testutil.WaitAll(t, ws...)
	// Let the readers run alone for a moment too, then stop them.
	reads := atomic.LoadInt64(&sh.reads)
	testutil.WaitFor(t, testutil.Timeout, "readers to read after the writers finished", func() bool { return atomic.LoadInt64(&sh.reads) > reads+100 })
	atomic.StoreUint32(&sh.stop, 1)
	testutil.WaitAll(t, rs...)
	if sh.a != int64(writers*n) || sh.b != sh.a {
		t.Fatalf("a, b = %d, %d after %d writers × %d locked increments, want %d", sh.a, sh.b, writers, n, writers*n)
	}
	if bad := atomic.LoadInt32(&sh.bad); bad != 0 {
		t.Fatalf("%d violations: a writer shared the lock, or a reader saw a half-done write", bad)
	}
	t.Logf("%d read sections; at most %d readers inside at once", sh.reads, sh.maxReaders)
	if sh.maxReaders < 2 {
		t.Errorf("readers never shared the lock (at most %d inside)", sh.maxReaders)
	}
}

// rwHoldRead read-locks rw (args[0] times) and waits to be killed.
var rwHoldRead = spawn.Register("TestRWMutexDeadReader.holder", func(ctx context.Context, c *spawn.Child) error {
	rw, sh, err := openRW(c.Segments()[0])
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(c.Args()[0])
	for i := 0; i < n; i++ {
		rw.RLock()
	}
	atomic.StoreUint32(&sh.started, 1)
	<-ctx.Done()
	return nil
})

func TestRWMutexDeadReader(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	rw, sh := newRW(t, seg)
	holder := testutil.Start(t, rwHoldRead, seg, "3")
	testutil.WaitFor(t, testutil.Timeout, "the reader to read-lock", func() bool { return atomic.LoadUint32(&sh.started) == 1 })
	if rw.TryLock() {
		t.Fatal("TryLock succeeded while a reader holds the lock")
	}
	res := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
		defer cancel()
		res <- rw.LockContext(ctx)
	}()
	// Another process's read locks do not stop ours from being taken...
	// except that a writer now waits: new readers queue behind it.
	waitForWriter(t, rw)
	holder.Kill()
	holder.Wait()
	died := time.Now()
	if err := <-res; err != nil {
		t.Fatalf("LockContext after a reader died = %v, want nil (a dead reader needs no repair)", err)
	}
	took := time.Since(died)
	t.Logf("writer got the lock %v after the reader was reaped", took)
	if took > time.Second {
		t.Errorf("recovering the dead reader's holds took %v", took)
	}
	rw.Unlock()
	if !rw.TryRLock() {
		t.Fatal("TryRLock failed on a free RWMutex")
	}
	rw.RUnlock()
}

// rwHoldWrite write-locks rw, half-updates the data and waits to be killed.
var rwHoldWrite = spawn.Register("TestRWMutexDeadWriter.holder", func(ctx context.Context, c *spawn.Child) error {
	rw, sh, err := openRW(c.Segments()[0])
	if err != nil {
		return err
	}
	rw.Lock()
	sh.a++ // b not yet: the invariant is broken until Unlock
	atomic.StoreUint32(&sh.started, 1)
	<-ctx.Done()
	return nil
})

// rwDirtyReader read-locks with RLockContext and records what it returned:
// 1 ErrOwnerDead, 2 nil.
var rwDirtyReader = spawn.Register("TestRWMutexDeadWriter.reader", func(ctx context.Context, c *spawn.Child) error {
	rw, sh, err := openRW(c.Segments()[0])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, testutil.Timeout)
	defer cancel()
	atomic.StoreUint32(&sh.stop, 1)
	err = rw.RLockContext(ctx)
	switch {
	case errors.Is(err, lock.ErrOwnerDead):
		if sh.a == sh.b {
			return fmt.Errorf("ErrOwnerDead, but the data is consistent: a=%d b=%d", sh.a, sh.b)
		}
		atomic.StoreUint32(&sh.result, 1)
	case err == nil:
		atomic.StoreUint32(&sh.result, 2)
	default:
		return err
	}
	rw.RUnlock()
	return nil
})

func TestRWMutexDeadWriter(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	rw, sh := newRW(t, seg)
	holder := testutil.Start(t, rwHoldWrite, seg)
	testutil.WaitFor(t, testutil.Timeout, "the writer to lock", func() bool { return atomic.LoadUint32(&sh.started) == 1 })
	reader := testutil.Start(t, rwDirtyReader, seg)
	testutil.WaitFor(t, testutil.Timeout, "the reader to start", func() bool { return atomic.LoadUint32(&sh.stop) == 1 })
	holder.Kill()
	holder.Wait()
	died := time.Now()
	testutil.WaitAll(t, reader)
	t.Logf("a blocked reader recovered the dead writer's lock within %v", time.Since(died))
	if r := atomic.LoadUint32(&sh.result); r != 1 {
		t.Fatalf("the reader's RLockContext result %d, want 1 (ErrOwnerDead)", r)
	}
	// The data stays marked inconsistent until a writer has had the lock:
	// the next reader is told too, and so is the next writer.
	if err := rw.RLockContext(context.Background()); !errors.Is(err, lock.ErrOwnerDead) {
		t.Fatalf("RLockContext before any repair = %v, want ErrOwnerDead", err)
	}
	rw.RUnlock()
	if err := rw.LockContext(context.Background()); !errors.Is(err, lock.ErrOwnerDead) {
		t.Fatalf("LockContext before any repair = %v, want ErrOwnerDead", err)
	}
	sh.b = sh.a // repair
	rw.Unlock()
	if err := rw.RLockContext(context.Background()); err != nil {
		t.Fatalf("RLockContext after the repair = %v, want nil", err)
	}
	rw.RUnlock()
	if err := rw.LockContext(context.Background()); err != nil {
		t.Fatalf("LockContext after the repair = %v, want nil", err)
	}
	rw.Unlock()
}

func TestRWMutexDeadWriterToWriter(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	rw, sh := newRW(t, seg)
	holder := testutil.Start(t, rwHoldWrite, seg)
	testutil.WaitFor(t, testutil.Timeout, "the writer to lock", func() bool { return atomic.LoadUint32(&sh.started) == 1 })
	res := make(chan error, 1)
	go func() { res <- rw.LockContext(context.Background()) }()
	holder.Kill()
	holder.Wait()
	if err := <-res; !errors.Is(err, lock.ErrOwnerDead) {
		t.Fatalf("LockContext after the writer died = %v, want ErrOwnerDead", err)
	}
	sh.b = sh.a
	rw.Unlock()
	if err := rw.LockContext(context.Background()); err != nil {
		t.Fatalf("LockContext after the repair = %v, want nil", err)
	}
	rw.Unlock()
}

// rwPendingWriter waits for write access (a reader holds the lock) and is
// killed while it waits.
var rwPendingWriter = spawn.Register("TestRWMutexDeadPendingWriter.writer", func(ctx context.Context, c *spawn.Child) error {
	rw, sh, err := openRW(c.Segments()[0])
	if err != nil {
		return err
	}
	atomic.StoreUint32(&sh.started, 1)
	if err := rw.LockContext(ctx); err != nil {
		return err
	}
	return errors.New("got write access while a reader held the lock")
})

// rwReader2 read-locks with RLockContext and records the result: 1
// ErrOwnerDead, 2 nil.
var rwPlainReader = spawn.Register("TestRWMutexDeadPendingWriter.reader", func(ctx context.Context, c *spawn.Child) error {
	rw, sh, err := openRW(c.Segments()[0])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, testutil.Timeout)
	defer cancel()
	switch err := rw.RLockContext(ctx); {
	case errors.Is(err, lock.ErrOwnerDead):
		atomic.StoreUint32(&sh.result, 1)
	case err == nil:
		atomic.StoreUint32(&sh.result, 2)
	default:
		return err
	}
	rw.RUnlock()
	return nil
})

// A writer killed while it waits for readers never had write access: the
// readers that queued behind it get in, and nobody is told of a death.
func TestRWMutexDeadPendingWriter(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	rw, sh := newRW(t, seg)
	rw.RLock()
	writer := testutil.Start(t, rwPendingWriter, seg)
	waitForWriter(t, rw)
	writer.Kill()
	writer.Wait()
	reader := testutil.Start(t, rwPlainReader, seg)
	testutil.WaitAll(t, reader)
	if r := atomic.LoadUint32(&sh.result); r != 2 {
		t.Fatalf("reader's RLockContext result %d, want 2 (nil)", r)
	}
	rw.RUnlock()
	if err := rw.LockContext(context.Background()); err != nil {
		t.Fatalf("LockContext = %v, want nil", err)
	}
	rw.Unlock()
}

// rwLateReader tries to read-lock for 50 ms while a writer waits, and
// records whether it was kept out: 1 yes (DeadlineExceeded), 2 no.
var rwLateReader = spawn.Register("TestRWMutexWriterPreference.reader", func(ctx context.Context, c *spawn.Child) error {
	rw, sh, err := openRW(c.Segments()[0])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	switch err := rw.RLockContext(ctx); {
	case errors.Is(err, context.DeadlineExceeded):
		atomic.StoreUint32(&sh.result, 1)
	case err == nil:
		atomic.StoreUint32(&sh.result, 2)
		rw.RUnlock()
	default:
		return err
	}
	return nil
})

// rwQueuedWriter locks for writing and records that it did.
var rwQueuedWriter = spawn.Register("TestRWMutexWriterPreference.writer", func(ctx context.Context, c *spawn.Child) error {
	rw, sh, err := openRW(c.Segments()[0])
	if err != nil {
		return err
	}
	if err := rw.LockContext(ctx); err != nil {
		return err
	}
	atomic.StoreUint32(&sh.stop, 1)
	rw.Unlock()
	return nil
})

func TestRWMutexWriterPreference(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	rw, sh := newRW(t, seg)
	rw.RLock()
	writer := testutil.Start(t, rwQueuedWriter, seg)
	waitForWriter(t, rw)
	reader := testutil.Start(t, rwLateReader, seg)
	testutil.WaitAll(t, reader)
	if r := atomic.LoadUint32(&sh.result); r != 1 {
		t.Fatalf("a reader arriving while a writer waits: result %d, want 1 (kept out)", r)
	}
	if atomic.LoadUint32(&sh.stop) != 0 {
		t.Fatal("the writer got the lock while a reader held it")
	}
	rw.RUnlock()
	testutil.WaitAll(t, writer)
	if atomic.LoadUint32(&sh.stop) != 1 {
		t.Fatal("the writer did not get the lock")
	}
}

func TestRWMutexContext(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	rw, sh := newRW(t, seg)

	// A writer in another process holds it: readers and writers time out.
	holder := testutil.Start(t, rwHoldWrite, seg)
	testutil.WaitFor(t, testutil.Timeout, "the writer to lock", func() bool { return atomic.LoadUint32(&sh.started) == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- rw.RLockContext(ctx) }()
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("RLockContext cancelled = %v, want context.Canceled", err)
	}
	for _, f := range []func(context.Context) error{rw.RLockContext, rw.LockContext} {
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		if err := f(dctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("lock past deadline = %v, want context.DeadlineExceeded", err)
		}
		dcancel()
	}
	holder.Kill()
	holder.Wait()
	if err := rw.LockContext(context.Background()); !errors.Is(err, lock.ErrOwnerDead) {
		t.Fatalf("LockContext = %v, want ErrOwnerDead", err)
	}
	rw.Unlock()

	// Readers hold it: a writer times out, and lets go of the readers that
	// queued behind it.
	atomic.StoreUint32(&sh.started, 0)
	reader := testutil.Start(t, rwHoldRead, seg, "1")
	defer func() { reader.Kill(); reader.Wait() }()
	testutil.WaitFor(t, testutil.Timeout, "the reader to read-lock", func() bool { return atomic.LoadUint32(&sh.started) == 1 })
	wctx, wcancel := context.WithCancel(context.Background())
	wres := make(chan error, 1)
	go func() { wres <- rw.LockContext(wctx) }()
	waitForWriter(t, rw)
	rres := make(chan error, 1)
	go func() { rres <- rw.RLockContext(context.Background()) }()
	wcancel()
	if err := <-wres; !errors.Is(err, context.Canceled) {
		t.Fatalf("LockContext cancelled = %v, want context.Canceled", err)
	}
	if err := <-rres; err != nil {
		t.Fatalf("a reader queued behind the cancelled writer: RLockContext = %v", err)
	}
	rw.RUnlock()
	if rw.TryLock() {
		t.Fatal("TryLock succeeded while another process reads")
	}
	if !rw.TryRLock() {
		t.Fatal("TryRLock failed while only readers hold the lock")
	}
	rw.RUnlock()
}

func TestRWMutexMisuse(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	rw, err := lock.NewRWMutex(seg, "rw")
	if err != nil {
		t.Fatal(err)
	}
	testutil.MustPanic(t, `lock: RWMutex "rw": Unlock of an RWMutex this process has not locked for writing`, rw.Unlock)
	testutil.MustPanic(t, `lock: RWMutex "rw": RUnlock of an RWMutex this process has not read-locked`, rw.RUnlock)
	rw.RLock()
	testutil.MustPanic(t, "has not locked for writing", rw.Unlock)
	rw.RUnlock()
	rw.Lock()
	testutil.MustPanic(t, "has not read-locked", rw.RUnlock)
	rw.Unlock()
	// Goroutines of one process share its holds: one may undo another's.
	done := make(chan struct{})
	rw.RLock()
	go func() { rw.RUnlock(); close(done) }()
	<-done
	if !rw.TryLock() {
		t.Fatal("the RWMutex is still read-locked")
	}
	rw.Unlock()
}

func TestOpenRWMutex(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	if _, err := lock.NewRWMutex(seg, "rw"); err != nil {
		t.Fatal(err)
	}
	if _, err := lock.NewRWMutex(seg, "rw"); !errors.Is(err, shm.ErrExist) {
		t.Errorf("NewRWMutex of a taken name = %v, want ErrExist", err)
	}
	if _, err := lock.OpenRWMutex(seg, "nope"); !errors.Is(err, shm.ErrNotExist) {
		t.Errorf("OpenRWMutex of a missing name = %v, want ErrNotExist", err)
	}
	if _, err := lock.NewMutex(seg, "m"); err != nil {
		t.Fatal(err)
	}
	if _, err := lock.OpenRWMutex(seg, "m"); !errors.Is(err, shm.ErrWrongKind) {
		t.Errorf("OpenRWMutex of a mutex = %v, want ErrWrongKind", err)
	}
	a, _ := lock.OpenRWMutex(seg, "rw")
	b, _ := lock.OpenRWMutex(seg, "rw")
	a.RLock()
	b.RLock()
	if a.TryLock() {
		t.Error("TryLock succeeded while read-locked through two handles")
	}
	a.RUnlock()
	b.RUnlock()
	if !a.TryLock() {
		t.Error("TryLock failed after both read locks were undone")
	}
	if b.TryRLock() {
		t.Error("TryRLock succeeded while write-locked")
	}
	b.Unlock() // any handle in the holding process
}

// rwIdle waits to be killed; its identity fills the reader table.
var rwIdle = spawn.Register("TestRWMutexReaderTableFull.idle", func(ctx context.Context, c *spawn.Child) error {
	<-ctx.Done()
	return nil
})

// When every reader slot is taken by other processes, a reader waits; when
// they die, it gets in.
func TestRWMutexReaderTableFull(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	mem, err := shm.NewBytes(seg, "own", lock.RWMutexSize+64)
	if err != nil {
		t.Fatal(err)
	}
	rw, err := lock.RWMutexAt(mem[64:], "own.rw")
	if err != nil {
		t.Fatal(err)
	}
	idle := testutil.Start(t, rwIdle, seg)
	startTicks, err := proc.StartTime(idle.Pid())
	if err != nil {
		t.Fatal(err)
	}
	word := holders.Pack(proc.Make(idle.Pid(), startTicks), 1)
	table := mem[64+lock.RWMutexSize-holders.Size:]
	for i := 0; i < lock.RWMutexReaders; i++ {
		atomic.StoreUint64((*uint64)(unsafe.Pointer(&table[holders.Offset(i)])), word)
	}
	if rw.TryRLock() {
		t.Fatal("TryRLock succeeded with the reader table full")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Millisecond)
	defer cancel()
	if err := rw.RLockContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RLockContext with the table full of a live process's holds = %v, want DeadlineExceeded", err)
	}
	res := make(chan error, 1)
	go func() { res <- rw.RLockContext(context.Background()) }()
	idle.Kill()
	idle.Wait()
	if err := <-res; err != nil {
		t.Fatalf("RLockContext after the holder died = %v", err)
	}
	rw.RUnlock()
	// Its other holds are gone too (the reader reaped them, or the writer
	// does now).
	if err := rw.LockContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	rw.Unlock()
	if _, err := lock.RWMutexAt(mem[:lock.RWMutexSize-1], "short"); err == nil {
		t.Error("RWMutexAt accepted too few bytes")
	}
	if _, err := lock.RWMutexAt(mem[4:], "misaligned"); err == nil {
		t.Error("RWMutexAt accepted a misaligned region")
	}
}

//go:build linux

package lock_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// shared is a block of plain words in a segment that tests use for counters
// and flags.
type shared struct {
	counter int64  // plain, non-atomic: protected by the lock under test
	flag    uint32 // atomic handshakes
	result  uint32
	waitNs  int64
}

func newShared(tb testing.TB, seg *shm.Segment) *shared {
	return testutil.Overlay[shared](tb, seg, "shared")
}

func openShared(seg *shm.Segment) (*shared, error) {
	return testutil.OpenOverlay[shared](seg, "shared")
}

// childCount adds 1 to the plain counter args[0] times under the Mutex.
var childCount = spawn.Register("TestMutexExclusion", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	m, err := lock.OpenMutex(seg, "m")
	if err != nil {
		return err
	}
	sh, err := openShared(seg)
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(c.Args()[0])
	procs, _ := strconv.Atoi(c.Args()[1])
	// Start together, so that the processes really contend.
	if err := testutil.StartBarrier(&sh.flag, procs); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		m.Lock()
		sh.counter++ // not atomic: only the lock keeps increments from being lost
		m.Unlock()
	}
	return nil
})

func TestMutexExclusion(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	if _, err := lock.NewMutex(seg, "m"); err != nil {
		t.Fatal(err)
	}
	sh := newShared(t, seg)
	const procs = 4
	n := testutil.Size(50_000, 10)
	ps := testutil.StartN(t, procs, childCount, seg, strconv.Itoa(n), strconv.Itoa(procs))
	testutil.WaitAll(t, ps...)
	if sh.counter != int64(procs*n) {
		t.Fatalf("counter = %d after %d processes × %d locked increments, want %d", sh.counter, procs, n, procs*n)
	}
}

// childHold takes the Mutex, raises the flag and waits to be killed.
var childHold = spawn.Register("TestMutexOwnerDeath.holder", func(ctx context.Context, c *spawn.Child) error {
	m, err := lock.OpenMutex(c.Segments()[0], "m")
	if err != nil {
		return err
	}
	sh, err := openShared(c.Segments()[0])
	if err != nil {
		return err
	}
	m.Lock()
	sh.counter = -1 // "inconsistent" data the next holder must repair
	atomic.StoreUint32(&sh.flag, 1)
	<-ctx.Done()
	return nil
})

// childWaiter blocks in LockContext until the holder dies, and records what
// it returned and when (Unix nanoseconds).
var childWaiter = spawn.Register("TestMutexOwnerDeath.waiter", func(ctx context.Context, c *spawn.Child) error {
	m, err := lock.OpenMutex(c.Segments()[0], "m")
	if err != nil {
		return err
	}
	sh, err := openShared(c.Segments()[0])
	if err != nil {
		return err
	}
	atomic.StoreUint32(&sh.flag, 2)
	err = m.LockContext(ctx)
	atomic.StoreInt64(&sh.waitNs, time.Now().UnixNano())
	switch {
	case errors.Is(err, lock.ErrOwnerDead):
		sh.counter = 0 // repaired
		atomic.StoreUint32(&sh.result, 1)
	case err == nil:
		atomic.StoreUint32(&sh.result, 2)
	default:
		return err
	}
	m.Unlock()
	return nil
})

func TestMutexOwnerDeath(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	m, err := lock.NewMutex(seg, "m")
	if err != nil {
		t.Fatal(err)
	}
	sh := newShared(t, seg)
	holder := testutil.Start(t, childHold, seg)
	testutil.WaitFor(t, testutil.Timeout, "the holder to take the Mutex", func() bool { return atomic.LoadUint32(&sh.flag) == 1 })
	if got := m.Holder(); got != holder.Pid() {
		t.Fatalf("Holder = %d, want %d", got, holder.Pid())
	}
	waiter := testutil.Start(t, childWaiter, seg)
	testutil.WaitFor(t, testutil.Timeout, "the waiter to start waiting", func() bool { return atomic.LoadUint32(&sh.flag) == 2 })

	holder.Kill()
	holder.Wait()
	died := time.Now()
	testutil.WaitAll(t, waiter)
	if r := atomic.LoadUint32(&sh.result); r != 1 {
		t.Fatalf("waiter's LockContext result %d, want 1 (ErrOwnerDead)", r)
	}
	took := time.Unix(0, atomic.LoadInt64(&sh.waitNs)).Sub(died)
	t.Logf("waiter took the lock %v after the holder was reaped", took)
	// The specification bound is 100 ms; a shared CI machine gets slack.
	if took > time.Second {
		t.Errorf("takeover took %v", took)
	}
	if sh.counter != 0 {
		t.Fatalf("the new holder did not get to repair the data: %d", sh.counter)
	}
	// The Mutex works normally afterwards.
	if err := m.LockContext(context.Background()); err != nil {
		t.Fatalf("LockContext after recovery = %v, want nil", err)
	}
	if m.TryLock() {
		t.Fatal("TryLock of a held Mutex succeeded")
	}
	m.Unlock()
	if !m.TryLock() {
		t.Fatal("TryLock of a free Mutex failed")
	}
	m.Unlock()
}

func TestMutexLockSilentTakeover(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	m, err := lock.NewMutex(seg, "m")
	if err != nil {
		t.Fatal(err)
	}
	sh := newShared(t, seg)
	holder := testutil.Start(t, childHold, seg)
	testutil.WaitFor(t, testutil.Timeout, "the holder to take the Mutex", func() bool { return atomic.LoadUint32(&sh.flag) == 1 })
	holder.Kill()
	holder.Wait()
	m.Lock() // takes over without saying so
	if got := m.Holder(); got == holder.Pid() || got == 0 {
		t.Fatalf("Holder = %d after Lock", got)
	}
	m.Unlock()
}

func TestMutexUnlockMisuse(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	m, err := lock.NewMutex(seg, "m")
	if err != nil {
		t.Fatal(err)
	}
	testutil.MustPanic(t, `lock: Mutex "m": unlock of unlocked mutex`, m.Unlock)

	sh := newShared(t, seg)
	holder := testutil.Start(t, childHold, seg)
	testutil.WaitFor(t, testutil.Timeout, "the holder to take the Mutex", func() bool { return atomic.LoadUint32(&sh.flag) == 1 })
	testutil.MustPanic(t, fmt.Sprintf("held by another process (pid %d)", holder.Pid()), m.Unlock)
	if got := m.Holder(); got != holder.Pid() {
		t.Fatalf("a refused Unlock changed the holder to %d", got)
	}
	holder.Kill()
	holder.Wait()
}

func TestMutexContext(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	m, err := lock.NewMutex(seg, "m")
	if err != nil {
		t.Fatal(err)
	}
	sh := newShared(t, seg)
	holder := testutil.Start(t, childHold, seg)
	defer func() { holder.Kill(); holder.Wait() }()
	testutil.WaitFor(t, testutil.Timeout, "the holder to take the Mutex", func() bool { return atomic.LoadUint32(&sh.flag) == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- m.LockContext(ctx) }()
	cancel()
	select {
	case err := <-res:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("LockContext = %v, want context.Canceled", err)
		}
	case <-time.After(testutil.Timeout):
		t.Fatal("LockContext did not return after cancel")
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer dcancel()
	if err := m.LockContext(dctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockContext past deadline = %v, want context.DeadlineExceeded", err)
	}
	if got := m.Holder(); got != holder.Pid() {
		t.Fatalf("a cancelled LockContext changed the holder to %d", got)
	}
}

func TestOpenMutex(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	if _, err := lock.NewMutex(seg, "m"); err != nil {
		t.Fatal(err)
	}
	if _, err := lock.NewMutex(seg, "m"); !errors.Is(err, shm.ErrExist) {
		t.Errorf("NewMutex of a taken name = %v, want ErrExist", err)
	}
	if _, err := lock.OpenMutex(seg, "nope"); !errors.Is(err, shm.ErrNotExist) {
		t.Errorf("OpenMutex of a missing name = %v, want ErrNotExist", err)
	}
	if _, err := shm.NewBytes(seg, "bytes", 64); err != nil {
		t.Fatal(err)
	}
	if _, err := lock.OpenMutex(seg, "bytes"); !errors.Is(err, shm.ErrWrongKind) {
		t.Errorf("OpenMutex of a bytes object = %v, want ErrWrongKind", err)
	}
	a, _ := lock.OpenMutex(seg, "m")
	b, _ := lock.OpenMutex(seg, "m")
	a.Lock()
	if b.TryLock() {
		t.Error("two handles on one Mutex both hold it")
	}
	b.Unlock() // any handle in the holding process may unlock
	if !a.TryLock() {
		t.Error("unlock through another handle did not free the Mutex")
	}
	a.Unlock()
}

func TestMutexAt(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	mem, err := shm.NewBytes(seg, "own", 64)
	if err != nil {
		t.Fatal(err)
	}
	m, err := lock.MutexAt(mem[8:16], "own.lock")
	if err != nil {
		t.Fatal(err)
	}
	m.Lock()
	if mem[8+7] == 0 && mem[8+4] == 0 {
		t.Error("the lock word did not change")
	}
	m.Unlock()
	if _, err := lock.MutexAt(mem[4:12], "misaligned"); err == nil {
		t.Error("MutexAt accepted a misaligned word")
	}
	if _, err := lock.MutexAt(mem[:4], "short"); err == nil {
		t.Error("MutexAt accepted 4 bytes")
	}
}

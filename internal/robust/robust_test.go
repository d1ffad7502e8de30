//go:build linux

package robust_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/proc"
	"github.com/shmkit/shmkit/internal/robust"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

func TestMain(m *testing.M) { testutil.Main(m) }

type fixture struct {
	seg  *shm.Segment
	mu   robust.Mutex
	flag *uint32
}

func open(seg *shm.Segment) (fixture, error) {
	b, err := shm.OpenBytes(seg, "lock")
	if err != nil {
		return fixture{}, err
	}
	return fixture{
		seg:  seg,
		mu:   robust.Mutex{Word: (*uint64)(unsafe.Pointer(&b[0]))},
		flag: (*uint32)(unsafe.Pointer(&b[8])),
	}, nil
}

func newFixture(t *testing.T) fixture {
	seg := testutil.Segment(t, 1<<16)
	if _, err := shm.NewBytes(seg, "lock", 64); err != nil {
		t.Fatal(err)
	}
	f, err := open(seg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// childHolder takes the lock, says so, and waits to be killed.
var childHolder = spawn.Register("TestOwnerDeath", func(ctx context.Context, c *spawn.Child) error {
	f, err := open(c.Segments()[0])
	if err != nil {
		return err
	}
	if _, err := f.mu.Lock(ctx); err != nil {
		return err
	}
	atomic.StoreUint32(f.flag, 1)
	<-ctx.Done()
	return nil
})

func TestOwnerDeath(t *testing.T) {
	f := newFixture(t)
	p, err := childHolder.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{f.seg}})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, testutil.Timeout, "the child to take the lock", func() bool { return atomic.LoadUint32(f.flag) == 1 })
	if f.mu.TryLock() {
		t.Fatal("TryLock took a lock a live process holds")
	}
	if got := f.mu.Holder().Pid(); got != p.Pid() {
		t.Fatalf("holder pid %d, want the child's %d", got, p.Pid())
	}

	type result struct {
		dead bool
		err  error
		at   time.Time
	}
	res := make(chan result, 1)
	go func() {
		dead, err := f.mu.Lock(context.Background())
		res <- result{dead, err, time.Now()}
	}()
	p.Kill()
	p.Wait()
	killed := time.Now()
	select {
	case r := <-res:
		if r.err != nil || !r.dead {
			t.Fatalf("Lock after the holder died = %v, %v; want ownerDead", r.dead, r.err)
		}
		t.Logf("takeover %v after the holder was reaped", r.at.Sub(killed))
	case <-time.After(testutil.Timeout):
		t.Fatal("Lock did not take over from a dead holder")
	}
	if !f.mu.HeldBySelf() {
		t.Fatal("lock not held by this process after the takeover")
	}
	f.mu.Unlock("test")
	if dead, err := f.mu.Lock(context.Background()); dead || err != nil {
		t.Fatalf("Lock of a free lock = %v, %v", dead, err)
	}
	f.mu.Unlock("test")
}

func TestUnlockMisuse(t *testing.T) {
	f := newFixture(t)
	testutil.MustPanic(t, "unlock of unlocked mutex", func() { f.mu.Unlock("test") })
	// Held by another live process: pid 1 with its real start time.
	start, err := proc.StartTime(1)
	if err != nil {
		t.Skip("pid 1 is not visible here")
	}
	atomic.StoreUint64(f.mu.Word, uint64(proc.Make(1, start)))
	testutil.MustPanic(t, "held by another process (pid 1)", func() { f.mu.Unlock("test") })
	// A word naming no live process (a scribble): Unlock frees the lock.
	atomic.StoreUint64(f.mu.Word, 0x1234_5678_9abc)
	f.mu.Unlock("test")
	if atomic.LoadUint64(f.mu.Word) != 0 {
		t.Fatal("Unlock of a scribbled word did not free the lock")
	}
}

func TestLockContext(t *testing.T) {
	f := newFixture(t)
	if !f.mu.TryLock() {
		t.Fatal("TryLock of a free lock failed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	// Another goroutine of the same (live) process holds it: no takeover.
	if _, err := f.mu.Lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock = %v, want context.DeadlineExceeded", err)
	}
	f.mu.Unlock("test")
	if !f.mu.TryLock() {
		t.Fatal("lock unusable after a cancelled Lock")
	}
}

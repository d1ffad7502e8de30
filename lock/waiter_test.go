//go:build linux

package lock_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

// word32 and word64 return the word at off of the object name.
func word32(t *testing.T, seg *shm.Segment, name string, kind shm.Kind, off int) *uint32 {
	t.Helper()
	mem, err := seg.Lookup(name, kind)
	if err != nil {
		t.Fatal(err)
	}
	return (*uint32)(unsafe.Pointer(&mem[off]))
}

func word64(t *testing.T, seg *shm.Segment, name string, kind shm.Kind, off int) *uint64 {
	t.Helper()
	mem, err := seg.Lookup(name, kind)
	if err != nil {
		t.Fatal(err)
	}
	return (*uint64)(unsafe.Pointer(&mem[off]))
}

// blockedLocker blocks on the lock named by its argument until it is
// killed: "mutex" in Mutex.Lock, "rlock" in RWMutex.RLock, "wlock" in
// RWMutex.Lock, "cond" in Cond.Wait (having released the Mutex).
var blockedLocker = spawn.Register("TestWaiterKilled.locker", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	m, err := lock.OpenMutex(seg, "m")
	if err != nil {
		return err
	}
	rw, err := lock.OpenRWMutex(seg, "rw")
	if err != nil {
		return err
	}
	cv, err := lock.OpenCond(seg, "c", m)
	if err != nil {
		return err
	}
	switch c.Args()[0] {
	case "mutex":
		m.Lock()
	case "rlock":
		rw.RLock()
	case "wlock":
		rw.Lock()
	case "cond":
		m.Lock()
		cv.Wait(ctx)
	}
	<-ctx.Done()
	return nil
})

// within runs fn in a goroutine and fails the test if it has not
// returned within testutil.Timeout.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(testutil.Timeout):
		t.Fatalf("%s did not return within %v after a waiter was killed", what, testutil.Timeout)
	}
}

// TestWaiterKilled kills a process while it is blocked on each lock, and
// checks that the lock goes on working exactly: nothing is held in the
// dead process's name, a live waiter gets the lock or the signal, and a
// pending writer that dies is no holder (LockContext reports no death).
func TestWaiterKilled(t *testing.T) {
	setup := func(t *testing.T) (*shm.Segment, *lock.Mutex, *lock.RWMutex, *lock.Cond) {
		seg := testutil.Segment(t, 1<<20)
		m, err := lock.NewMutex(seg, "m")
		if err != nil {
			t.Fatal(err)
		}
		rw, err := lock.NewRWMutex(seg, "rw")
		if err != nil {
			t.Fatal(err)
		}
		cv, err := lock.NewCond(seg, "c", m)
		if err != nil {
			t.Fatal(err)
		}
		return seg, m, rw, cv
	}
	kill := func(p *spawn.Process) {
		p.Kill()
		p.Wait()
	}

	t.Run("Mutex", func(t *testing.T) {
		seg, m, _, _ := setup(t)
		word := word64(t, seg, "m", shm.KindMutex, 0)
		m.Lock()
		p := testutil.Start(t, blockedLocker, seg, "mutex")
		testutil.WaitFor(t, testutil.Timeout, "the child to wait in Lock (waiter bit set)", func() bool { return atomic.LoadUint64(word)>>63 == 1 })
		kill(p)
		got := make(chan error, 1)
		go func() { got <- m.LockContext(context.Background()) }()
		m.Unlock()
		within(t, "a live waiter's Lock", func() {
			if err := <-got; err != nil {
				t.Errorf("LockContext after a waiter died = %v, want nil (the holder did not die)", err)
			}
		})
		m.Unlock()
		if !m.TryLock() {
			t.Fatal("TryLock failed on a free Mutex")
		}
		m.Unlock()
		if w := atomic.LoadUint64(word); w != 0 {
			t.Fatalf("lock word = %#x when free, want 0", w)
		}
	})

	t.Run("RWMutex reader", func(t *testing.T) {
		seg, _, rw, _ := setup(t)
		waiting := word32(t, seg, "rw", shm.KindRWMutex, lock.OffRWWaiting)
		rw.Lock()
		p := testutil.Start(t, blockedLocker, seg, "rlock")
		testutil.WaitFor(t, testutil.Timeout, "the child to wait in RLock", func() bool { return atomic.LoadUint32(waiting) == 1 })
		kill(p)
		rw.Unlock()
		within(t, "RLock", func() { rw.RLock() })
		rw.RUnlock()
		within(t, "Lock", func() { rw.Lock() }) // no reader slot held in the dead process's name
		rw.Unlock()
	})

	t.Run("RWMutex writer", func(t *testing.T) {
		seg, _, rw, _ := setup(t)
		writer := word64(t, seg, "rw", shm.KindRWMutex, lock.OffRWWriter)
		rw.RLock()
		p := testutil.Start(t, blockedLocker, seg, "wlock")
		// A pending writer holds the writer word and waits for the readers.
		testutil.WaitFor(t, testutil.Timeout, "the child to take the writer word", func() bool {
			w := atomic.LoadUint64(writer)
			return w != 0 && int(w>>32&(1<<31-1)) == p.Pid()
		})
		kill(p)
		rw.RUnlock()
		// The dead pending writer's word is freed by the next locker.
		within(t, "Lock", func() {
			if err := rw.LockContext(context.Background()); err != nil {
				t.Errorf("LockContext after a pending writer died = %v, want nil (it never had write access)", err)
			}
		})
		rw.Unlock()
		within(t, "RLock", func() { rw.RLock() })
		rw.RUnlock()
	})

	t.Run("Cond", func(t *testing.T) {
		seg, m, _, cv := setup(t)
		waiters := word32(t, seg, "c", shm.KindCond, lock.OffCondWaiters)
		p := testutil.Start(t, blockedLocker, seg, "cond")
		testutil.WaitFor(t, testutil.Timeout, "the child to wait in Cond.Wait", func() bool { return atomic.LoadUint32(waiters) == 1 })
		m.Lock() // the child released it in Wait
		kill(p)
		got := make(chan error, 1)
		go func() {
			m.Lock()
			err := cv.Wait(context.Background())
			m.Unlock() // before reporting: the segment is unmapped when the test ends
			got <- err
		}()
		m.Unlock()
		testutil.WaitFor(t, testutil.Timeout, "the live goroutine to wait", func() bool { return atomic.LoadUint32(waiters) == 2 })
		m.Lock()
		cv.Signal() // one Signal: the dead waiter must not swallow it
		m.Unlock()
		within(t, "a live waiter's Cond.Wait after one Signal", func() {
			if err := <-got; err != nil {
				t.Errorf("Wait = %v, want nil", err)
			}
		})
		if w := atomic.LoadUint32(waiters); w != 1 {
			t.Fatalf("Cond waiters = %d, want 1 (the dead waiter, never uncounted)", w)
		}
	})
}

// TestCondSignallerKilled: a process killed inside Signal, between its
// add to the sequence and its wake syscall, leaves exactly this: the
// sequence advanced and no wake. The test makes that state directly, the
// one deterministic way to stop a process between two instructions; the
// waiter must notice at its next bounded wake (robust.CheckPeriod).
func TestCondSignallerKilled(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	m, err := lock.NewMutex(seg, "m")
	if err != nil {
		t.Fatal(err)
	}
	cv, err := lock.NewCond(seg, "c", m)
	if err != nil {
		t.Fatal(err)
	}
	seq := word32(t, seg, "c", shm.KindCond, lock.OffCondSeq)
	waiters := word32(t, seg, "c", shm.KindCond, lock.OffCondWaiters)
	got := make(chan error, 1)
	m.Lock()
	go func() {
		err := cv.Wait(context.Background())
		m.Unlock() // before reporting: the segment is unmapped when the test ends
		got <- err
	}()
	testutil.WaitFor(t, testutil.Timeout, "the goroutine to wait", func() bool { return atomic.LoadUint32(waiters) == 1 })
	atomic.AddUint32(seq, 1) // what a Signal killed before its wake leaves
	within(t, "Cond.Wait after a signaller died before its wake", func() {
		if err := <-got; err != nil {
			t.Errorf("Wait = %v, want nil", err)
		}
	})
	if w := atomic.LoadUint32(waiters); w != 0 {
		t.Fatalf("Cond waiters = %d after the waiter left, want 0", w)
	}
}

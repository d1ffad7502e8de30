//go:build linux

package semaphore_test

import (
	"context"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/spawn"
)

// blockedAcquirer blocks in Acquire on the semaphore "s" until it is killed.
var blockedAcquirer = spawn.Register("TestSemaphoreWaiterKilled.acquirer", func(ctx context.Context, c *spawn.Child) error {
	s, err := semaphore.Open(c.Segments()[0], "s")
	if err != nil {
		return err
	}
	return s.Acquire(ctx)
})

// TestSemaphoreWaiterKilled kills a process blocked in Acquire: the unit
// released afterwards goes to a live waiter (the dead one takes nothing),
// and the semaphore's count stays exact. The dead waiter stays counted in
// the Waiters word, as documented: a release then makes one wake syscall
// it could have saved.
func TestSemaphoreWaiterKilled(t *testing.T) {
	for _, bounded := range []bool{false, true} {
		name := map[bool]string{false: "counting", true: "bounded"}[bounded]
		t.Run(name, func(t *testing.T) {
			seg := testutil.Segment(t, 1<<20)
			newSem := semaphore.New
			if bounded {
				newSem = semaphore.NewBounded
			}
			s, err := newSem(seg, "s", 1)
			if err != nil {
				t.Fatal(err)
			}
			if !s.TryAcquire() {
				t.Fatal("TryAcquire on a fresh semaphore of 1 unit failed")
			}
			p := testutil.Start(t, blockedAcquirer, seg)
			testutil.WaitFor(t, testutil.Timeout, "the child to block in Acquire", func() bool { return s.WaitersForTest() == 1 })
			p.Kill()
			p.Wait()

			got := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
				defer cancel()
				got <- s.Acquire(ctx)
			}()
			testutil.WaitFor(t, testutil.Timeout, "the live waiter to block", func() bool { return s.WaitersForTest() == 2 })
			if err := s.Release(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-got:
				if err != nil {
					t.Fatalf("live waiter's Acquire after the dead waiter = %v, want nil", err)
				}
			case <-time.After(testutil.Timeout):
				t.Fatalf("the live waiter was not woken by Release within %v (a dead waiter took the wake?)", testutil.Timeout)
			}
			if v := s.Value(); v != 0 {
				t.Fatalf("Value = %d with the only unit held, want 0", v)
			}
			if err := s.Release(); err != nil {
				t.Fatal(err)
			}
			if v := s.Value(); v != 1 {
				t.Fatalf("Value = %d after the unit came back, want 1", v)
			}
			if w := s.WaitersForTest(); w != 1 {
				t.Fatalf("Waiters = %d, want 1 (the dead waiter, never uncounted)", w)
			}
		})
	}
}

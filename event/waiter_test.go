//go:build linux

package event_test

import (
	"context"
	"testing"
	"time"

	"github.com/shmkit/shmkit/event"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/spawn"
)

// blockedEventWaiter blocks in Wait on the event "e" until it is killed.
var blockedEventWaiter = spawn.Register("TestEventWaiterKilled.waiter", func(ctx context.Context, c *spawn.Child) error {
	e, err := event.Open(c.Segments()[0], "e")
	if err != nil {
		return err
	}
	return e.Wait(ctx)
})

// TestEventWaiterKilled kills a process blocked in Wait: a live waiter is
// still woken by Set, and the event's state is exact. The dead waiter
// stays counted in the Waiters word, as documented.
func TestEventWaiterKilled(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	e, err := event.New(seg, "e")
	if err != nil {
		t.Fatal(err)
	}
	p := testutil.Start(t, blockedEventWaiter, seg)
	testutil.WaitFor(t, testutil.Timeout, "the child to block in Wait", func() bool { return e.WaitersForTest() == 1 })
	p.Kill()
	p.Wait()
	if e.IsSet() {
		t.Fatal("IsSet = true after a waiter died, want false")
	}

	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
		defer cancel()
		got <- e.Wait(ctx)
	}()
	testutil.WaitFor(t, testutil.Timeout, "the live waiter to block", func() bool { return e.WaitersForTest() == 2 })
	e.Set()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("live waiter's Wait = %v, want nil", err)
		}
	case <-time.After(testutil.Timeout):
		t.Fatalf("the live waiter was not woken by Set within %v", testutil.Timeout)
	}
	if !e.IsSet() {
		t.Fatal("IsSet = false after Set, want true")
	}
	if w := e.WaitersForTest(); w != 1 {
		t.Fatalf("Waiters = %d, want 1 (the dead waiter, never uncounted)", w)
	}
}

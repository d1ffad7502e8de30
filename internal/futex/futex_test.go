//go:build linux

package futex_test

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/futex"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func word(t testing.TB, seg *shm.Segment, name string) *uint32 {
	b, err := shm.NewBytes(seg, name, 64)
	if err != nil {
		t.Fatal(err)
	}
	return (*uint32)(unsafe.Pointer(&b[0]))
}

func TestWaitValueChanged(t *testing.T) {
	var w uint32 = 5
	// EAGAIN: the word does not hold val, so Wait returns at once.
	if err := futex.Wait(&w, 4, time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("Wait on a changed word = %v, want nil", err)
	}
}

func TestWaitTimeout(t *testing.T) {
	var w uint32
	start := time.Now()
	err := futex.Wait(&w, 0, start.Add(20*time.Millisecond))
	if !errors.Is(err, futex.ErrTimeout) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Wait = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("Wait returned after %v, before its deadline", d)
	}
	if err := futex.Wait(&w, 0, time.Now().Add(-time.Second)); !errors.Is(err, futex.ErrTimeout) {
		t.Fatalf("Wait with a past deadline = %v, want ErrTimeout", err)
	}
}

// TestWaitRetriesEINTR interrupts a waiter with signals: it must keep
// waiting until its deadline.
func TestWaitRetriesEINTR(t *testing.T) {
	var w uint32
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				// SIGURG is the Go runtime's preemption signal: harmless,
				// and it interrupts system calls.
				syscall.Kill(os.Getpid(), syscall.SIGURG)
			}
		}
	}()
	defer close(stop)
	start := time.Now()
	if err := futex.Wait(&w, 0, start.Add(100*time.Millisecond)); !errors.Is(err, futex.ErrTimeout) {
		t.Fatalf("Wait = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("Wait returned after %v: a signal cut the wait short", d)
	}
}

// childWaiter sleeps on word 0 while it is 0, then stores 2 in word 1.
var childWaiter = spawn.Register("TestWakeAcrossProcesses", func(ctx context.Context, c *spawn.Child) error {
	b, err := shm.OpenBytes(c.Segments()[0], "w")
	if err != nil {
		return err
	}
	w := (*uint32)(unsafe.Pointer(&b[0]))
	ack := (*uint32)(unsafe.Pointer(&b[4]))
	atomic.StoreUint32(ack, 1)
	for atomic.LoadUint32(w) == 0 {
		futex.Wait(w, 0, time.Time{})
	}
	atomic.StoreUint32(ack, 2)
	return nil
})

func TestWakeAcrossProcesses(t *testing.T) {
	seg := testutil.Segment(t, 1<<16)
	w := word(t, seg, "w")
	ack := (*uint32)(unsafe.Add(unsafe.Pointer(w), 4))
	p, err := childWaiter.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, testutil.Timeout, "the child to wait", func() bool { return atomic.LoadUint32(ack) == 1 })
	atomic.StoreUint32(w, 1)
	futex.Wake(w, 1)
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if atomic.LoadUint32(ack) != 2 {
		t.Fatal("child exited without seeing the wake")
	}
}

// TestWaitContextCancel cancels a blocked waiter: it must return
// context.Canceled promptly, however the cancellation races with its entry
// into the kernel.
func TestWaitContextCancel(t *testing.T) {
	var w uint32
	var worst time.Duration
	for i := 0; i < testutil.Size(200, 10); i++ {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- futex.WaitContext(ctx, &w, 0, 0) }()
		if i%2 == 0 {
			time.Sleep(50 * time.Microsecond) // vary where the waiter is when cancel lands
		}
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("WaitContext = %v, want context.Canceled", err)
			}
		case <-time.After(testutil.Timeout):
			t.Fatal("WaitContext did not return after its context was cancelled")
		}
		worst = max(worst, time.Since(start))
	}
	t.Logf("worst cancel-to-return latency: %v", worst)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := futex.WaitContext(ctx, &w, 0, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitContext past its deadline = %v, want context.DeadlineExceeded", err)
	}
	// maxSleep bounds the wait; the result is nil (re-check and wait again).
	if err := futex.WaitContext(context.Background(), &w, 0, time.Millisecond); err != nil {
		t.Fatalf("WaitContext with maxSleep = %v, want nil", err)
	}
}

// benchPong answers every odd turn with the next even one, sleeping on the
// futex in between, until the turn is ^0.
var benchPong = spawn.Register("benchFutexPong", func(ctx context.Context, c *spawn.Child) error {
	b, err := shm.OpenBytes(c.Segments()[0], "turn")
	if err != nil {
		return err
	}
	turn := (*uint32)(unsafe.Pointer(&b[0]))
	for {
		v := atomic.LoadUint32(turn)
		if v == ^uint32(0) {
			return nil
		}
		if v%2 == 0 {
			futex.Wait(turn, v, time.Time{})
			continue
		}
		atomic.StoreUint32(turn, v+1)
		futex.Wake(turn, 1)
	}
})

// BenchmarkPingPong measures a two-process round trip through a futex: each
// side stores the next turn, wakes the other, and sleeps until its turn.
// This is the floor for every blocking primitive in shmkit.
func BenchmarkPingPong(b *testing.B) {
	b.Run("mech=futex", func(b *testing.B) {
		seg := testutil.Segment(b, 1<<16)
		turn := word(b, seg, "turn")
		p, err := benchPong.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}})
		if err != nil {
			b.Fatal(err)
		}
		defer func() {
			atomic.StoreUint32(turn, ^uint32(0))
			futex.Wake(turn, 1)
			p.Wait()
		}()
		b.ReportAllocs()
		b.ResetTimer()
		v := uint32(0)
		for i := 0; i < b.N; i++ {
			v++
			atomic.StoreUint32(turn, v) // odd: the child's turn
			futex.Wake(turn, 1)
			for {
				cur := atomic.LoadUint32(turn)
				if cur != v {
					v = cur
					break
				}
				futex.Wait(turn, v, time.Time{})
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/roundtrip")
	})
}

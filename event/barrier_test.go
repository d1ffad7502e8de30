//go:build linux

package event_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/event"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

// rounds is the record of a many-round barrier test: per round, how many
// parties arrived, and the set of arrival indices returned.
type rounds struct {
	arrived []uint32
	indices []uint32
}

func roundsIn(mem []byte, n int) rounds {
	words := unsafe.Slice((*uint32)(unsafe.Pointer(&mem[0])), 2*n)
	return rounds{arrived: words[:n], indices: words[n:]}
}

// barrierParty waits on "b" for args[0] rounds, checking that nobody passes
// a round before every party arrived, and recording its arrival index.
var barrierParty = spawn.Register("TestBarrierRounds.party", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	b, err := event.OpenBarrier(seg, "b")
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(c.Args()[0])
	mem, err := shm.OpenBytes(seg, "rounds")
	if err != nil {
		return err
	}
	rs := roundsIn(mem, n)
	ctx, cancel := context.WithTimeout(ctx, testutil.Timeout)
	defer cancel()
	parties := uint32(b.Parties())
	for r := 0; r < n; r++ {
		atomic.AddUint32(&rs.arrived[r], 1)
		i, err := b.Wait(ctx)
		if err != nil {
			return fmt.Errorf("round %d: %w", r, err)
		}
		if a := atomic.LoadUint32(&rs.arrived[r]); a != parties {
			return fmt.Errorf("round %d: passed the barrier with %d of %d parties arrived", r, a, parties)
		}
		if i < 0 || i >= int(parties) {
			return fmt.Errorf("round %d: index %d", r, i)
		}
		atomic.OrUint32(&rs.indices[r], 1<<i)
	}
	return nil
})

func TestBarrierRounds(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	const parties = 3
	if _, err := event.NewBarrier(seg, "b", parties); err != nil {
		t.Fatal(err)
	}
	n := testutil.Size(1000, 10)
	mem, err := shm.NewBytes(seg, "rounds", 8*n)
	if err != nil {
		t.Fatal(err)
	}
	ps := testutil.StartN(t, parties, barrierParty, seg, strconv.Itoa(n))
	testutil.WaitAll(t, ps...)
	rs := roundsIn(mem, n)
	for r := 0; r < n; r++ {
		if rs.arrived[r] != parties || rs.indices[r] != 1<<parties-1 {
			t.Fatalf("round %d: %d arrivals, indices %03b; want %d and 111", r, rs.arrived[r], rs.indices[r], parties)
		}
	}
}

// brokenWaiter waits once on "b" and records the outcome: 1 ErrBroken, 2
// success.
var brokenWaiter = spawn.Register("TestBarrierAbort.waiter", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	b, err := event.OpenBarrier(seg, "b")
	if err != nil {
		return err
	}
	cs, err := openCounters(seg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, testutil.Timeout)
	defer cancel()
	switch i, err := b.Wait(ctx); {
	case errors.Is(err, event.ErrBroken) && i == -1:
		atomic.AddUint32(&cs.result, 1)
	case err == nil:
		atomic.AddUint32(&cs.woken, 1)
	default:
		return fmt.Errorf("Wait = %d, %v", i, err)
	}
	return nil
})

func TestBarrierAbortReset(t *testing.T) {
	for _, how := range []string{"abort", "reset"} {
		t.Run(how, func(t *testing.T) {
			seg := testutil.Segment(t, 1<<20)
			b, err := event.NewBarrier(seg, "b", 3)
			if err != nil {
				t.Fatal(err)
			}
			cs := newCounters(t, seg)
			ps := []*spawn.Process{testutil.Start(t, brokenWaiter, seg), testutil.Start(t, brokenWaiter, seg)}
			testutil.WaitFor(t, testutil.Timeout, "two parties to wait", func() bool { return b.Waiting() == 2 && b.WaitersForTest() == 2 })
			if how == "abort" {
				b.Abort()
			} else {
				b.Reset() // breaks the round for those waiting
			}
			testutil.WaitAll(t, ps...)
			if r, w := atomic.LoadUint32(&cs.result), atomic.LoadUint32(&cs.woken); r != 2 || w != 0 {
				t.Fatalf("%d waiters got ErrBroken and %d passed, want 2 and 0", r, w)
			}
			if how == "abort" {
				if !b.Broken() {
					t.Fatal("Broken = false after Abort")
				}
				if _, err := b.Wait(context.Background()); !errors.Is(err, event.ErrBroken) {
					t.Fatalf("Wait on a broken barrier = %v, want ErrBroken", err)
				}
				b.Reset()
			}
			if b.Broken() || b.Waiting() != 0 {
				t.Fatalf("after Reset: Broken %v, Waiting %d", b.Broken(), b.Waiting())
			}
			// Usable again: this process and two more make a round.
			ps = []*spawn.Process{testutil.Start(t, brokenWaiter, seg), testutil.Start(t, brokenWaiter, seg)}
			if _, err := b.Wait(context.Background()); err != nil {
				t.Fatalf("Wait after Reset = %v", err)
			}
			testutil.WaitAll(t, ps...)
			if w := atomic.LoadUint32(&cs.woken); w != 2 {
				t.Fatalf("%d parties passed the round after Reset, want 2", w)
			}
		})
	}
}

func TestBarrierContext(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	b, err := event.NewBarrier(seg, "b", 2)
	if err != nil {
		t.Fatal(err)
	}
	cs := newCounters(t, seg)
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() {
		_, err := b.Wait(ctx)
		res <- err
	}()
	testutil.WaitFor(t, testutil.Timeout, "Wait to block", func() bool { return b.WaitersForTest() == 1 })
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait cancelled = %v, want context.Canceled", err)
	}
	if !b.Broken() {
		t.Fatal("a cancelled Wait did not break the barrier")
	}
	testutil.WaitAll(t, testutil.Start(t, brokenWaiter, seg))
	if r := atomic.LoadUint32(&cs.result); r != 1 {
		t.Fatalf("a party arriving at the broken barrier: result %d, want ErrBroken", r)
	}
	b.Reset()
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer dcancel()
	if _, err := b.Wait(dctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait past deadline = %v, want DeadlineExceeded", err)
	}
	b.Reset()
	p := testutil.Start(t, brokenWaiter, seg)
	if i, err := b.Wait(context.Background()); err != nil || (i != 0 && i != 1) {
		t.Fatalf("Wait after Reset = %d, %v", i, err)
	}
	testutil.WaitAll(t, p)
	if w := atomic.LoadUint32(&cs.woken); w != 1 {
		t.Fatalf("the other party did not pass the round (woken %d)", w)
	}
}

// deathParty makes args[0] rounds on "b", then, if args[1] is "stay",
// stops arriving, or if it is "arrive", arrives once more; either way it then
// waits to be killed.
var deathParty = spawn.Register("TestBarrierPartyDeath.party", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	b, err := event.OpenBarrier(seg, "b")
	if err != nil {
		return err
	}
	cs, err := openCounters(seg)
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(c.Args()[0])
	for r := 0; r < n; r++ {
		if _, err := b.Wait(ctx); err != nil {
			return fmt.Errorf("round %d: %w", r, err)
		}
	}
	atomic.StoreUint32(&cs.flag, 1)
	if c.Args()[1] == "arrive" {
		b.Wait(ctx) // killed while waiting
	}
	<-ctx.Done()
	return nil
})

// survivor makes rounds on "b" until the barrier breaks, and records how
// many it made and when it broke.
var survivor = spawn.Register("TestBarrierPartyDeath.survivor", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	b, err := event.OpenBarrier(seg, "b")
	if err != nil {
		return err
	}
	cs, err := openCounters(seg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, testutil.Timeout)
	defer cancel()
	for {
		if _, err := b.Wait(ctx); err != nil {
			if !errors.Is(err, event.ErrBroken) {
				return err
			}
			atomic.StoreInt64(&cs.ns, time.Now().UnixNano())
			return nil
		}
		atomic.AddUint32(&cs.woken, 1)
	}
})

func TestBarrierPartyDeath(t *testing.T) {
	// stay: the victim made its rounds, then stopped arriving and died.
	// arrive: the victim died waiting; the round it arrived in completes
	// without it, and the next one breaks.
	for _, mode := range []string{"stay", "arrive"} {
		t.Run(mode, func(t *testing.T) {
			seg := testutil.Segment(t, 1<<20)
			b, err := event.NewBarrier(seg, "b", 3)
			if err != nil {
				t.Fatal(err)
			}
			cs := newCounters(t, seg)
			const k = 5
			victim := testutil.Start(t, deathParty, seg, strconv.Itoa(k), mode)
			other := testutil.Start(t, survivor, seg)
			for r := 0; r < k; r++ {
				if _, err := b.Wait(context.Background()); err != nil {
					t.Fatalf("round %d: %v", r, err)
				}
			}
			testutil.WaitFor(t, testutil.Timeout, "the victim to finish its rounds", func() bool { return atomic.LoadUint32(&cs.flag) == 1 })
			if mode == "arrive" {
				testutil.WaitFor(t, testutil.Timeout, "the victim to arrive", func() bool { return b.Waiting() >= 1 })
			}
			victim.Kill()
			victim.Wait()
			died := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
			defer cancel()
			var err2 error
			for range 2 {
				if _, err2 = b.Wait(ctx); err2 != nil {
					break
				}
			}
			if !errors.Is(err2, event.ErrBroken) {
				t.Fatalf("Wait after a party died = %v, want ErrBroken", err2)
			}
			took := time.Since(died)
			testutil.WaitAll(t, other)
			t.Logf("barrier broke %v after the party was reaped; the survivor made %d rounds", took, atomic.LoadUint32(&cs.woken))
			if took > time.Second {
				t.Errorf("detection took %v", took)
			}
			want := uint32(k)
			if mode == "arrive" {
				want = k + 1
			}
			if w := atomic.LoadUint32(&cs.woken); w != want {
				t.Fatalf("survivor made %d rounds, want %d", w, want)
			}
			// Reset: the survivors can go on (with one party short, the
			// next round would break again).
			b.Reset()
			if b.Broken() {
				t.Fatal("Broken after Reset")
			}
		})
	}
}

// A barrier used by one set of processes, then Reset and used by another:
// the exits of the first set are not taken for deaths.
func TestBarrierNewParties(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	b, err := event.NewBarrier(seg, "b", 2)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3
	if _, err := shm.NewBytes(seg, "rounds", 8*n); err != nil {
		t.Fatal(err)
	}
	testutil.WaitAll(t, testutil.Start(t, barrierParty, seg, strconv.Itoa(n)), testutil.Start(t, barrierParty, seg, strconv.Itoa(n)))
	if got := b.PartySlotsForTest(); got != 2 {
		t.Fatalf("%d party slots after the first set exited, want 2", got)
	}
	b.Reset()
	cs := newCounters(t, seg)
	p := testutil.Start(t, brokenWaiter, seg)
	if _, err := b.Wait(context.Background()); err != nil {
		t.Fatalf("Wait with a new party = %v", err)
	}
	testutil.WaitAll(t, p)
	if w := atomic.LoadUint32(&cs.woken); w != 1 {
		t.Fatalf("the new party's Wait failed")
	}
	// This process and the new party; the first set's slots were freed.
	if got := b.PartySlotsForTest(); got != 2 {
		t.Fatalf("%d party slots, want 2", got)
	}
}

func TestBarrierOneParty(t *testing.T) {
	b, err := event.NewBarrier(testutil.Segment(t, 1<<20), "b", 1)
	if err != nil {
		t.Fatal(err)
	}
	for r := 0; r < 3; r++ {
		if i, err := b.Wait(context.Background()); i != 0 || err != nil {
			t.Fatalf("round %d: Wait = %d, %v, want 0, nil", r, i, err)
		}
	}
}

func TestOpenBarrier(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	for _, bad := range []int{0, -1} {
		if _, err := event.NewBarrier(seg, "bad", bad); err == nil {
			t.Errorf("NewBarrier with %d parties succeeded", bad)
		}
	}
	if _, err := event.NewBarrier(seg, "b", 4); err != nil {
		t.Fatal(err)
	}
	if _, err := event.OpenBarrier(seg, "nope"); !errors.Is(err, shm.ErrNotExist) {
		t.Errorf("OpenBarrier of a missing name = %v, want ErrNotExist", err)
	}
	if _, err := event.New(seg, "e"); err != nil {
		t.Fatal(err)
	}
	if _, err := event.OpenBarrier(seg, "e"); !errors.Is(err, shm.ErrWrongKind) {
		t.Errorf("OpenBarrier of an event = %v, want ErrWrongKind", err)
	}
	b, err := event.OpenBarrier(seg, "b")
	if err != nil {
		t.Fatal(err)
	}
	if b.Parties() != 4 {
		t.Errorf("Parties = %d, want 4", b.Parties())
	}
}

// TestBarrierCorrupt changes one field and checks the sentinel and the field
// named.
func TestBarrierCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		off   int
		value uint32
		field string
		open  bool // the fault shows at Open; otherwise at Wait
	}{
		{"no parties", event.OffBarParties, 0, "parties", true},
		{"too many parties", event.OffBarParties, 1 << 31, "parties", true},
		{"count beyond parties", event.OffBarCount, 7, "count", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seg := testutil.Segment(t, 1<<20)
			b, err := event.NewBarrier(seg, "b", 3)
			if err != nil {
				t.Fatal(err)
			}
			off := testutil.ObjectOffset(t, seg, "b")
			if _, err := seg.File().WriteAt(binary.NativeEndian.AppendUint32(nil, tc.value), off+int64(tc.off)); err != nil {
				t.Fatal(err)
			}
			if !tc.open {
				_, err = b.Wait(context.Background())
			} else {
				_, err = event.OpenBarrier(seg, "b")
			}
			var se *shm.Error
			if !errors.Is(err, shm.ErrCorrupt) || !errors.As(err, &se) {
				t.Fatalf("got %v, want ErrCorrupt in an *shm.Error", err)
			}
			if se.Object != "b" || se.Field != tc.field || se.Offset != off+int64(tc.off) {
				t.Fatalf("error names object %q field %q at %d, want %q %q at %d", se.Object, se.Field, se.Offset, "b", tc.field, off+int64(tc.off))
			}
		})
	}
}

// TestBarrierResetForgetsParties: parties that got ErrBroken from a Reset
// and exited are not taken, in the next round, for dead parties it waits
// for — even by a waiter that sleeps past the party check.
func TestBarrierResetForgetsParties(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	b, err := event.NewBarrier(seg, "b", 3)
	if err != nil {
		t.Fatal(err)
	}
	newCounters(t, seg)
	ps := []*spawn.Process{testutil.Start(t, brokenWaiter, seg), testutil.Start(t, brokenWaiter, seg)}
	testutil.WaitFor(t, testutil.Timeout, "two parties to wait", func() bool { return b.Waiting() == 2 && b.WaitersForTest() == 2 })
	b.Reset()
	testutil.WaitAll(t, ps...) // they got ErrBroken and exited
	res := make(chan error, 1)
	go func() { _, err := b.Wait(context.Background()); res <- err }()
	testutil.WaitFor(t, testutil.Timeout, "this process to wait", func() bool { return b.Waiting() == 1 })
	// Let the lone waiter sleep past the party check (25 ms) before the
	// new parties arrive: the scenario under test, not synchronisation.
	time.Sleep(60 * time.Millisecond)
	ps = []*spawn.Process{testutil.Start(t, brokenWaiter, seg), testutil.Start(t, brokenWaiter, seg)}
	if err := <-res; err != nil {
		t.Fatalf("Wait of the round after Reset = %v, want nil", err)
	}
	testutil.WaitAll(t, ps...)
}

//go:build linux

package fence_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/fence"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/spawn"
)

func TestMain(m *testing.M) { testutil.Main(m) }

const maxRounds = 20000

// cell is one round of the store-buffering litmus test, each word on its
// own cache line.
type cell struct {
	X  uint64 // the published word: the publisher stores 1
	_  [56]byte
	F  uint64 // the waiter's flag: the waiter stores 1
	_  [56]byte
	R1 uint64 // what the publisher loaded from F, plus 1
	R2 uint64 // what the waiter loaded from X, plus 1
	_  [48]byte
}

type litmus struct {
	Arrived uint32
	_       [60]byte
	PubAt   uint64 // rounds the publisher has entered
	_       [56]byte
	WaitAt  uint64 // rounds the waiter has entered
	_       [56]byte
	Cells   [maxRounds]cell
}

// meet enters round i and waits until the other side has entered it too,
// so that the two sides run each round at the same moment.
func meet(mine, theirs *uint64, i uint64) {
	atomic.StoreUint64(mine, i)
	for n := 0; atomic.LoadUint64(theirs) < i; n++ {
		if n%4096 == 4095 {
			runtime.Gosched()
		}
	}
}

// litmusSide runs one side of the test. Args: role ("pub" or "wait"),
// rounds, and whether the waiter calls Heavy.
var litmusSide = spawn.Register("fenceLitmusSide", func(ctx context.Context, c *spawn.Child) error {
	l, err := testutil.OpenOverlay[litmus](c.Segments()[0], "litmus")
	if err != nil {
		return err
	}
	rounds, _ := strconv.Atoi(c.Args()[1])
	heavy := c.Args()[2] == "heavy"
	if err := testutil.StartBarrier(&l.Arrived, 2); err != nil {
		return err
	}
	switch c.Args()[0] {
	case "pub":
		fence.Enable()
		<-fence.Enabled()
		for i := range rounds {
			x := &l.Cells[i]
			meet(&l.PubAt, &l.WaitAt, uint64(i+1))
			fence.Publish64(&x.X, 1)
			x.R1 = atomic.LoadUint64(&x.F) + 1
		}
	case "wait":
		for i := range rounds {
			x := &l.Cells[i]
			meet(&l.WaitAt, &l.PubAt, uint64(i+1))
			atomic.StoreUint64(&x.F, 1)
			if heavy {
				fence.Heavy()
			}
			x.R2 = atomic.LoadUint64(&x.X) + 1
		}
	}
	return nil
})

// runLitmus runs rounds of the store-buffering test between two processes
// and returns in how many both sides missed the other's store.
func runLitmus(t *testing.T, rounds int, heavy string) int {
	seg := testutil.Segment(t, 8<<20)
	l := testutil.Overlay[litmus](t, seg, "litmus")
	n := strconv.Itoa(rounds)
	pub := testutil.Start(t, litmusSide, seg, "pub", n, heavy)
	wait := testutil.Start(t, litmusSide, seg, "wait", n, heavy)
	testutil.WaitAll(t, pub, wait)
	missed := 0
	for i := range rounds {
		x := &l.Cells[i]
		if x.R1 == 0 || x.R2 == 0 {
			t.Fatalf("round %d did not run: r1=%d r2=%d", i, x.R1, x.R2)
		}
		if x.R1 == 1 && x.R2 == 1 {
			missed++
		}
	}
	return missed
}

// TestAsymmetricDekker is the store-buffering litmus test between two
// processes: a publisher stores X with Publish64 and loads F; a waiter
// stores F, calls Heavy and loads X. The outcome in which both loads miss
// the other side's store is the lost wake-up the package exists to
// prevent, and must never happen. Without Heavy it is allowed (on amd64,
// where Publish64 is a plain store, the store buffer produces it); the
// test logs how often it happened then, to show that the rounds really
// overlap.
func TestAsymmetricDekker(t *testing.T) {
	rounds := testutil.Size(maxRounds, 10)
	if missed := runLitmus(t, rounds, "heavy"); missed != 0 {
		t.Fatalf("with Heavy: %d of %d rounds lost the other side's store", missed, rounds)
	}
	control := runLitmus(t, rounds, "none")
	t.Logf("without Heavy: %d of %d rounds lost the other side's store (allowed; light=%v on %s)",
		control, rounds, lightInChild(), runtime.GOARCH)
}

// lightInChild reports whether a process enabling the package publishes
// with plain stores here.
func lightInChild() bool {
	fence.Enable()
	<-fence.Enabled()
	return fence.Light()
}

// mp is a small ring for the message-passing test: K slots of 8 words,
// the producer's position Seq and the consumer's Ack on lines of their own.
type mp struct {
	Arrived uint32
	Failed  uint32 // set by a side that fails, so the other stops
	Light   uint32 // set by the publisher if it publishes with plain stores
	_       [52]byte
	Seq     uint64
	_       [56]byte
	Ack     uint64
	_       [56]byte
	Slots   [mpSlots][8]uint64
}

const mpSlots = 16

// mpSide is one side of TestPublishOrder. Args: role ("pub" or "read") and
// the number of messages.
var mpSide = spawn.Register("fenceMPSide", func(ctx context.Context, c *spawn.Child) error {
	m, err := testutil.OpenOverlay[mp](c.Segments()[0], "mp")
	if err != nil {
		return err
	}
	n, _ := strconv.ParseUint(c.Args()[1], 10, 64)
	fence.Enable()
	<-fence.Enabled()
	if fence.Light() && c.Args()[0] == "pub" {
		atomic.StoreUint32(&m.Light, 1)
	}
	if err := testutil.StartBarrier(&m.Arrived, 2); err != nil {
		return err
	}
	deadline := time.Now().Add(testutil.Timeout)
	poll := func(w *uint64, at uint64) error {
		for k := 0; atomic.LoadUint64(w) < at; k++ {
			if k%4096 == 4095 {
				if atomic.LoadUint32(&m.Failed) != 0 {
					return errors.New("the other side failed")
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("no progress past %d in %v", at, testutil.Timeout)
				}
				runtime.Gosched()
			}
		}
		return nil
	}
	err = mpRun(c.Args()[0], m, n, poll)
	if err != nil {
		atomic.StoreUint32(&m.Failed, 1)
	}
	return err
})

func mpRun(role string, m *mp, n uint64, poll func(w *uint64, at uint64) error) error {
	switch role {
	case "pub":
		for i := uint64(1); i <= n; i++ {
			if i > mpSlots {
				if err := poll(&m.Ack, i-mpSlots); err != nil { // the slot's last reader is done
					return err
				}
			}
			s := &m.Slots[i%mpSlots]
			for k := range s {
				s[k] = i // plain stores, published by the next line
			}
			fence.Publish64(&m.Seq, i)
		}
	case "read":
		for i := uint64(1); i <= n; i++ {
			if err := poll(&m.Seq, i); err != nil {
				return err
			}
			s := &m.Slots[i%mpSlots]
			for k := range s {
				if v := s[k]; v != i { // plain loads, released by Ack below
					return fmt.Errorf("message %d: word %d reads %d", i, k, v)
				}
			}
			fence.Publish64(&m.Ack, i)
		}
	}
	return nil
}

// TestPublishOrder runs a small ring between two processes whose payload is
// written and read with plain stores and loads and whose positions are
// published with Publish64: each side's publication must come after its
// payload stores (the reader would see a slot not yet written) and after its
// payload loads (the writer would overwrite a slot still being read). It
// tests the plain store only where the registration succeeds (it logs
// whether it did); elsewhere Publish64 is a sequentially consistent store.
func TestPublishOrder(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	m := testutil.Overlay[mp](t, seg, "mp")
	defer func() { t.Logf("plain-store publication: %v", atomic.LoadUint32(&m.Light) == 1) }()
	n := strconv.Itoa(testutil.Size(2_000_000, 20))
	pub := testutil.Start(t, mpSide, seg, "pub", n)
	read := testutil.Start(t, mpSide, seg, "read", n)
	testutil.WaitAll(t, read, pub) // a reader's failure names the message
}

// TestPublishBeforeEnable checks that Publish64 stores in both modes.
func TestPublishBeforeEnable(t *testing.T) {
	var w uint64
	fence.Publish64(&w, 7)
	if w != 7 {
		t.Fatalf("Publish64 stored %d, want 7", w)
	}
	fence.Enable()
	fence.Enable() // idempotent
	select {
	case <-fence.Enabled():
	case <-time.After(testutil.Timeout):
		t.Fatal("the registration did not finish")
	}
	fence.Publish64(&w, 9)
	if w != 9 {
		t.Fatalf("Publish64 after Enable stored %d, want 9", w)
	}
	fence.Heavy()
}

package event

import (
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/internal/holders"
	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/shm"
)

// TestLayoutOffsets keeps the offset constants in agreement with the structs
// that document them: a layout change that forgets one fails here, and
// shm.Version must be bumped with it.
func TestLayoutOffsets(t *testing.T) {
	type field struct {
		name string
		off  uintptr
	}
	check := func(v any, fields []field) {
		t.Helper()
		for _, f := range fields {
			if got := layout.Offset(v, f.name); got != f.off {
				t.Errorf("%T.%s at %d, constant says %d", v, f.name, got, f.off)
			}
		}
	}
	check(eventLayout{}, []field{{"State", evState}, {"Waiters", evWaiters}})
	if s := unsafe.Sizeof(eventLayout{}); s != eventSize {
		t.Errorf("eventLayout is %d bytes, eventSize %d", s, eventSize)
	}
	check(barrierLayout{}, []field{
		{"Count", barCount}, {"Seq", barSeq}, {"Parties", barParties}, {"Waiters", barWaiters}, {"Members", barMembers},
	})
	if s := unsafe.Sizeof(barrierLayout{}); s != barrierSize {
		t.Errorf("barrierLayout is %d bytes, barrierSize %d", s, barrierSize)
	}
	if barMembers%layout.CacheLine != 0 || barrierSize != barMembers+holders.Size {
		t.Errorf("the party table does not start a cache line or does not end the object")
	}
	// Count and Seq are the low and high halves of the state word.
	if barState != barCount || barSeq != barCount+4 || hiOffset != 4 {
		t.Errorf("the state word is not Count (low) then Seq (high) on this machine")
	}
	if shm.Version != 3 {
		t.Errorf("layout version %d: update docs/layout.md and this test with the layout", shm.Version)
	}
}

// TestBarrierState checks the state word's transitions and how a waiter
// reads the outcome of its round.
func TestBarrierState(t *testing.T) {
	b := &Barrier{}
	v := uint64(0)
	for r := 0; r < 20; r++ {
		s := seqOf(v)
		broken := r%3 == 1
		v = next(v, broken)
		if got := b.outcome(s, seqOf(v)); (got != nil) != broken {
			t.Fatalf("round %d ended broken=%v, outcome says %v", r, broken, got)
		}
		if arrivals(v) != 0 || v&stBroken != 0 {
			t.Fatalf("round %d: next state %#x has arrivals or the broken bit", r, v)
		}
	}
	// A waiter that slept through several rounds reads its own round's
	// outcome from the history.
	start := uint64(0)
	v = next(start, true) // its round: broken and reset
	v = next(v, false)
	v = next(v, false)
	if b.outcome(seqOf(start), seqOf(v)) == nil {
		t.Fatal("a round broken three rounds ago reads as completed")
	}
	v = next(start, false)
	v = next(v, true)
	if err := b.outcome(seqOf(start), seqOf(v)); err != nil {
		t.Fatalf("a completed round followed by a broken one reads as %v", err)
	}
	// Broken within the round: only the broken bit changed.
	if b.outcome(seqOf(start+5), seqOf((start+5)|stBroken)) == nil {
		t.Fatal("the broken bit reads as completed")
	}
	// The round number wraps.
	w := uint64(0xffff) << stGenShift
	if n := next(w, false); round(n) != 0 || b.outcome(seqOf(w), seqOf(n)) != nil {
		t.Fatalf("wrap: next %#x", n)
	}
}

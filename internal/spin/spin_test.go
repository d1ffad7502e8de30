package spin

import (
	"testing"
	"time"
)

// TestBudget checks the adaptation: short waits make it spin about twice
// their length, long ones make it sleep at once, and it recovers when waits
// get short again.
func TestBudget(t *testing.T) {
	if !multiCPU {
		t.Skip("one CPU: no spinning")
	}
	var b Budget
	if n, _ := b.polls(); n <= 0 {
		t.Fatalf("first wait spins %d polls", n)
	}
	for i := 0; i < 50; i++ {
		b.record(5 * time.Microsecond)
	}
	want := int(10 * time.Microsecond / cal.perPoll)
	if n, _ := b.polls(); n < want*9/10 || n > want*11/10 {
		t.Fatalf("after 5 µs waits: %d polls, want about %d (10 µs)", n, want)
	}
	for i := 0; i < 50; i++ {
		b.record(time.Millisecond)
	}
	// Long waits: sleep at once, except one probe of MaxSpin in ProbeEvery.
	probes := 0
	for i := 0; i < 3*ProbeEvery; i++ {
		n, probe := b.polls()
		switch {
		case probe && n == int(MaxSpin/cal.perPoll):
			probes++
		case probe || n != 0:
			t.Fatalf("after 1 ms waits: %d polls (probe %v), want 0 or a probe of MaxSpin", n, probe)
		}
	}
	if probes != 3 {
		t.Fatalf("%d probes in %d waits, want 3", probes, 3*ProbeEvery)
	}
	// A probe that catches its event restarts the average from that wait.
	for {
		ok, _ := b.Spin(func() bool { return true })
		if ok {
			break
		}
	}
	if a := time.Duration(b.avg.Load()); a >= MinSpin {
		t.Fatalf("after a successful probe the average is %v, want that wait's duration", a)
	}
	for i := 0; i < 50; i++ {
		b.record(time.Millisecond)
	}
	for i := 0; i < 100; i++ {
		b.record(300 * time.Nanosecond)
	}
	if n, floor := first(b.polls()), int(MinSpin/cal.perPoll); n != floor {
		t.Fatalf("after 300 ns waits: %d polls, want the floor %d", n, floor)
	}
	ok, tok := b.Spin(func() bool { return true })
	if !ok || tok.start.IsZero() {
		t.Fatal("Spin of a ready condition")
	}
}

func BenchmarkPause(b *testing.B) {
	for i := 0; i < b.N; i++ {
		pause()
	}
}

func first(n int, _ bool) int { return n }

// TestDelay checks that Delay spins for a fair part of what it is asked.
// The pause instruction is timed once per process, and a preempted timing
// makes each pause count for more than it costs, so the bound is loose; a
// delay of zero or less must not spin at all.
func TestDelay(t *testing.T) {
	if !Useful() {
		t.Skip("spinning is not useful here: Delay returns at once")
	}
	cal.once.Do(calibrate)
	if n := pausesFor(0); n != 0 {
		t.Fatalf("Delay(0) would pause %d times", n)
	}
	if n := pausesFor(-time.Second); n != 0 {
		t.Fatalf("Delay(-1s) would pause %d times", n)
	}
	const d = 200 * time.Microsecond
	start := time.Now()
	Delay(d)
	if got := time.Since(start); got < d/10 {
		t.Fatalf("Delay(%v) returned after %v (a pause timed at %v)", d, got, cal.perPoll)
	}
}

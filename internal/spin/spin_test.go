package spin

import (
	"testing"
)

// TestBudget checks the adaptation: start, double on success up to the
// maximum, halve on failure down to the minimum.
func TestBudget(t *testing.T) {
	if !multiCPU {
		t.Skip("one CPU: no spinning")
	}
	var b Budget
	first := b.Polls()
	if first != int(cal.initial) || cal.min < 1 || cal.min >= cal.initial || cal.initial >= cal.max_ {
		t.Fatalf("initial %d, calibration %d/%d/%d", first, cal.min, cal.initial, cal.max_)
	}
	b.Success()
	if b.Polls() != min(2*first, int(cal.max_)) {
		t.Fatalf("after a success %d, want %d", b.Polls(), 2*first)
	}
	for i := 0; i < 40; i++ {
		b.Success()
	}
	if b.Polls() != int(cal.max_) {
		t.Fatalf("after many successes %d, want the maximum %d", b.Polls(), cal.max_)
	}
	for i := 0; i < 40; i++ {
		b.Failure()
	}
	if b.Polls() != int(cal.min) {
		t.Fatalf("after many failures %d, want the minimum %d", b.Polls(), cal.min)
	}
}

func BenchmarkPause(b *testing.B) {
	for i := 0; i < b.N; i++ {
		pause()
	}
}

package ipcbench

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// Rep is the outcome of one repetition of one measurement.
type Rep struct {
	// Round trips: every round trip's duration, how many, and their total
	// time.
	Hist    *Histogram
	Samples int
	// Streams: messages moved.
	Messages int
	// Elapsed is the measured time: all the round trips, or the stream from
	// the go signal to its last message received.
	Elapsed time.Duration
}

// Measure runs one repetition: it starts mechanism m for pattern p with
// size-byte messages placed by opt, warms it up, measures for about d, and
// stops it. Warm-up: round trips for up to d/4 (at most [Warmup] of them);
// stream rounds growing fourfold until one takes d/10, which also sizes the
// measured round to last about d.
func Measure(m Mech, p Pattern, size int, opt Options, d time.Duration) (rep Rep, err error) {
	r, err := start(m, p, size, opt)
	if err != nil {
		return rep, err
	}
	defer func() {
		if cerr := r.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("%s: %w", m.Name, cerr)
		}
	}()
	undo, err := r.pinA()
	if err != nil {
		return rep, err
	}
	defer undo()
	if p == PatternRoundTrip {
		pg := pinger{r}
		if err := WarmUp(pg, d/4); err != nil {
			return rep, err
		}
		rep.Hist = new(Histogram)
		rep.Samples, rep.Elapsed, err = MeasureRoundTrips(pg, rep.Hist, 0, d)
		return rep, err
	}
	s := streamer{r}
	n, err := Calibrate(s, size, d)
	if err != nil {
		return rep, err
	}
	rep.Messages, rep.Elapsed, err = MeasureStream(s, n)
	return rep, err
}

// pinA pins the calling goroutine to side A's CPU, if the run has CPUs and
// is not in process (an in-process run has restricted the whole process).
func (r *run) pinA() (func(), error) {
	if len(r.opt.CPUs) == 0 || r.m.InProcess {
		return func() {}, nil
	}
	return PinThread(r.opt.cpu(0))
}

// Bench runs mechanism m as a benchmark of pattern p with size-byte
// messages: b.N round trips (reporting ns/op per round trip, p50-ns, p99-ns
// and p99.9-ns) or a stream of b.N messages (reporting ns/op per message,
// msgs/s and MB/s). The peers start, and warm up, outside the timed part.
func Bench(b *testing.B, m Mech, p Pattern, size int, opt Options) {
	b.Helper()
	r, err := start(m, p, size, opt)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := r.Close(); err != nil {
			b.Error(err)
		}
	}()
	undo, err := r.pinA()
	if err != nil {
		b.Fatal(err)
	}
	defer undo()
	if p == PatternRoundTrip {
		RoundTripBench(b, pinger{r})
		return
	}
	s := streamer{r}
	if _, err := Calibrate(s, size, 20*time.Millisecond); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	n, elapsed, err := MeasureStream(s, b.N)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(n)*float64(size)/elapsed.Seconds()/1e6, "MB/s")
}

// RoundTripBench measures b.N round trips through p, after a warm-up of up
// to [Warmup] of them (or 100 ms), and reports ns/op (per round trip),
// p50-ns, p99-ns and p99.9-ns.
func RoundTripBench(b *testing.B, p Pinger) *Histogram {
	b.Helper()
	if err := WarmUp(p, 100*time.Millisecond); err != nil {
		b.Fatal(err)
	}
	h := new(Histogram)
	b.ReportAllocs()
	b.ResetTimer()
	_, _, err := MeasureRoundTrips(p, h, b.N, 0)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(h.Quantile(0.5)), "p50-ns")
	b.ReportMetric(float64(h.Quantile(0.99)), "p99-ns")
	b.ReportMetric(float64(h.Quantile(0.999)), "p99.9-ns")
	return h
}

// RoundTrip is RoundTripBench: the packages' own benchmarks measure their
// Pingers with it.
func RoundTrip(b *testing.B, p Pinger) *Histogram { return RoundTripBench(b, p) }

// StartBaseline starts the peer of baseline name for round trips of
// size-byte messages (0: a signal, for the baselines that carry none).
func StartBaseline(name string, size int) (Pinger, error) {
	m, ok := Lookup(name)
	if !ok || m.Family != Baseline {
		return nil, fmt.Errorf("ipcbench: no baseline %q", name)
	}
	return StartRoundTrip(m, size, Options{})
}

// SignalRoundTrips adds one sub-benchmark to b per mechanism in names,
// named mech=NAME: round trips of a signal (no message) through it,
// measured by RoundTrip. The lock, semaphore and event packages measure
// their primitives this way, beside the futex and atomic baselines, with
// the same code as go run ./bench.
func SignalRoundTrips(b *testing.B, names ...string) {
	for _, name := range names {
		b.Run("mech="+name, func(b *testing.B) {
			m, ok := Lookup(name)
			if !ok || !m.Supports(PatternRoundTrip, 0) {
				b.Fatalf("ipcbench: %q carries no signal round trip", name)
			}
			p, err := StartRoundTrip(m, 0, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			RoundTrip(b, p)
		})
	}
}

// RunBaselines adds one round-trip sub-benchmark per baseline that carries
// size-byte messages to b, named mech=NAME.
func RunBaselines(b *testing.B, size int) {
	for _, name := range Baselines {
		m, _ := Lookup(name)
		if !m.Supports(PatternRoundTrip, size) {
			continue
		}
		b.Run("mech="+name, func(b *testing.B) { Bench(b, m, PatternRoundTrip, size, Options{}) })
	}
}

// Use reads one byte of every 64-byte cache line of m, and its last byte,
// as a receiver that uses a message in place (zero-copy) must: without it a
// zero-copy receiver would never pull the message's lines from the
// sender's core, and would look faster than any receiver that reads what
// it gets. Copying receivers read the message by copying it.
func Use(m []byte) {
	var x byte
	for i := 0; i < len(m); i += 64 {
		x ^= m[i]
	}
	if len(m) > 0 {
		x ^= m[len(m)-1]
	}
	runtime.KeepAlive(x) // the reads must happen
}

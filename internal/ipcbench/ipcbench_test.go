//go:build linux

package ipcbench_test

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/ipcbench"
	"github.com/shmkit/shmkit/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// TestQuantiles checks the histogram against exact quantiles of known
// distributions: uniform, exponential, and a bimodal mix with a long tail.
func TestQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		gen  func() int64
	}{
		{"uniform", func() int64 { return rng.Int64N(1_000_000) }},
		{"exponential", func() int64 { return int64(rng.ExpFloat64() * 5000) }},
		{"bimodal", func() int64 {
			if rng.IntN(100) == 0 {
				return 2_000_000 + rng.Int64N(100_000)
			}
			return 300 + rng.Int64N(50)
		}},
		{"small", func() int64 { return rng.Int64N(200) }},
	} {
		var h ipcbench.Histogram
		samples := make([]int64, 100_000)
		for i := range samples {
			samples[i] = tc.gen()
			h.Record(samples[i])
		}
		sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
		for _, q := range []float64{0.001, 0.5, 0.9, 0.99, 0.999} {
			exact := samples[int(math.Ceil(q*float64(len(samples))))-1]
			got := h.Quantile(q)
			if diff := math.Abs(float64(got - exact)); diff > 0.005*float64(exact)+1 {
				t.Errorf("%s: q%.3f = %d, exact %d", tc.name, q, got, exact)
			}
		}
		if h.Quantile(0) != samples[0] || h.Quantile(1) != samples[len(samples)-1] || h.Min() != samples[0] || h.Max() != samples[len(samples)-1] {
			t.Errorf("%s: min/max wrong", tc.name)
		}
		if h.Count() != uint64(len(samples)) {
			t.Errorf("%s: count %d", tc.name, h.Count())
		}
	}
	var empty ipcbench.Histogram
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Error("empty histogram")
	}
	var a, b ipcbench.Histogram
	a.Record(10)
	b.Record(1 << 40)
	a.Merge(&b)
	if a.Count() != 2 || a.Min() != 10 || a.Max() != 1<<40 || a.Quantile(1) != 1<<40 {
		t.Error("merge")
	}
}

// TestTail checks the ranks of the tail percentiles the bench reports: p99.9
// of 1000 samples is the 999th, and one outlier in a thousand is the max but
// not the p99.9, while two are both.
func TestTail(t *testing.T) {
	for _, tc := range []struct {
		name             string
		values           func(i int) int64
		p999, max, count int64
	}{
		{"ramp", func(i int) int64 { return int64(i + 1) }, 999, 1000, 1000},
		{"one outlier", func(i int) int64 { return map[bool]int64{true: 1e6, false: 100}[i == 500] }, 100, 1e6, 1000},
		{"two outliers", func(i int) int64 { return map[bool]int64{true: 1e6, false: 100}[i%500 == 7] }, 1e6, 1e6, 1000},
	} {
		var h ipcbench.Histogram
		for i := 0; i < int(tc.count); i++ {
			h.Record(tc.values(i))
		}
		got := h.Quantile(0.999)
		if math.Abs(float64(got-tc.p999)) > 0.004*float64(tc.p999)+1 {
			t.Errorf("%s: p99.9 = %d, want %d", tc.name, got, tc.p999)
		}
		if h.Max() != tc.max || h.Quantile(1) != tc.max {
			t.Errorf("%s: max %d, want %d", tc.name, h.Max(), tc.max)
		}
	}
}

// TestBaselines runs a few round trips through every baseline, as the
// packages' benchmarks start them.
func TestBaselines(t *testing.T) {
	for _, name := range ipcbench.Baselines {
		for _, size := range []int{0, 8, 64} {
			m, _ := ipcbench.Lookup(name)
			if !m.Supports(ipcbench.PatternRoundTrip, size) {
				continue
			}
			p, err := ipcbench.StartBaseline(name, size)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 100; i++ {
				if err := p.Ping(); err != nil {
					t.Fatalf("%s/%d: %v", name, size, err)
				}
			}
			if err := p.Close(); err != nil {
				t.Fatalf("%s/%d: close: %v", name, size, err)
			}
		}
	}
}

// TestMeasure runs every mechanism, pattern and a few sizes for a moment,
// and the N→N Queue, checking that each moves what it says.
func TestMeasure(t *testing.T) {
	ms := ipcbench.Mechs()
	q, ok := ipcbench.Lookup("queue-2x3")
	if !ok {
		t.Fatal("queue-2x3 not found")
	}
	ms = append(ms, q)
	for _, m := range ms {
		for _, p := range []ipcbench.Pattern{ipcbench.PatternRoundTrip, ipcbench.PatternStream} {
			for _, size := range []int{0, 8, 4096, 100_000} {
				if !m.Supports(p, size) {
					continue
				}
				rep, err := ipcbench.Measure(m, p, size, ipcbench.Options{}, 2*time.Millisecond)
				if err != nil {
					t.Fatalf("%s %s %d: %v", m.Name, p, size, err)
				}
				if rep.Elapsed <= 0 || (p == ipcbench.PatternRoundTrip && (rep.Samples < 1 || rep.Hist.Count() != uint64(rep.Samples))) ||
					(p == ipcbench.PatternStream && rep.Messages < 1) {
					t.Errorf("%s %s %d: %+v", m.Name, p, size, rep)
				}
			}
		}
	}
}

// TestPinned runs a round trip and a stream with both sides pinned to CPU 0,
// and the Go channel with the process restricted to it.
func TestPinned(t *testing.T) {
	for _, name := range []string{ipcbench.SPSC, ipcbench.Chan, ipcbench.Unix} {
		m, _ := ipcbench.Lookup(name)
		for _, p := range []ipcbench.Pattern{ipcbench.PatternRoundTrip, ipcbench.PatternStream} {
			if _, err := ipcbench.Measure(m, p, 64, ipcbench.Options{CPUs: []int{0}}, time.Millisecond); err != nil {
				t.Fatalf("%s %s: %v", name, p, err)
			}
		}
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	b.Run("size=64", func(b *testing.B) { ipcbench.RunBaselines(b, 64) })
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"

	"github.com/shmkit/shmkit/internal/ipcbench"
)

// Report is everything one run measured; -json writes it.
type Report struct {
	Machine Machine   `json:"machine"`
	Config  Config    `json:"config"`
	Results []*Result `json:"results"`
	Notes   []string  `json:"notes,omitempty"`
}

// Machine describes where the run happened and how busy the machine was.
type Machine struct {
	CPU        string     `json:"cpu"`        // model name
	CPUs       int        `json:"cpus"`       // CPUs this process may run on
	GOMAXPROCS int        `json:"gomaxprocs"` //
	Kernel     string     `json:"kernel"`
	Go         string     `json:"go"`
	OS         string     `json:"os"`
	Arch       string     `json:"arch"`
	Started    time.Time  `json:"started"`
	WallNS     int64      `json:"wall_ns"`     // the whole run
	LoadBefore [3]float64 `json:"load_before"` // 1, 5 and 15-minute load averages
	LoadAfter  [3]float64 `json:"load_after"`
	// OtherCPU is the CPU time that processes other than this run's used
	// during it, in CPUs on average; StealPercent the share of all CPU time
	// the hypervisor took.
	OtherCPU     float64 `json:"other_cpus"`
	StealPercent float64 `json:"steal_percent"`
}

// Config is what was asked for.
type Config struct {
	Mechs      []string `json:"mechs"`
	Patterns   []string `json:"patterns"`
	Sizes      []int    `json:"sizes"`
	DurationNS int64    `json:"duration_ns"` // per repetition of each case
	Reps       int      `json:"reps"`
	CPUs       []int    `json:"cpus"` // null: unpinned
	Placement  string   `json:"placement"`
	Order      string   `json:"order"`
	Warmup     string   `json:"warmup"`
}

// Result is one case: a mechanism, a pattern and a message size.
type Result struct {
	Mech    string `json:"mech"`
	Family  string `json:"family"` // shmkit, baseline, or kernel (a baseline through the kernel)
	Waits   string `json:"waits"`  // spin, adaptive, sleep, runtime
	Pattern string `json:"pattern"`
	Size    int    `json:"size"`  // bytes; 0: a signal
	Procs   int    `json:"procs"` // processes (threads, for chan) taking part
	Reps    []Rep  `json:"reps"`

	// Round trips, in ns. Each repetition's percentiles come from a
	// histogram of its every round trip; P50NS to P999NS are their medians
	// over the repetitions (so that one repetition that ran fast, and
	// therefore made more round trips, does not outweigh the others), and
	// Pooled has the percentiles of all samples together. MinNS, MaxNS and
	// MeanNS are over all samples.
	Samples uint64  `json:"samples,omitempty"`
	MinNS   int64   `json:"min_ns,omitempty"`
	MeanNS  float64 `json:"mean_ns,omitempty"`
	P50NS   int64   `json:"p50_ns,omitempty"`
	P90NS   int64   `json:"p90_ns,omitempty"`
	P99NS   int64   `json:"p99_ns,omitempty"`
	P999NS  int64   `json:"p999_ns,omitempty"`
	MaxNS   int64   `json:"max_ns,omitempty"`
	Pooled  *Pooled `json:"pooled,omitempty"`

	// Streams: the median repetition's rate, and all messages moved.
	Messages   int64   `json:"messages,omitempty"`
	MsgsPerSec float64 `json:"msgs_per_s,omitempty"`
	MBPerSec   float64 `json:"mb_per_s,omitempty"` // 10⁶ bytes

	// Spread of the repetitions' figure: p50 (round trips) or msgs/s.
	Spread *Spread `json:"spread,omitempty"`
	// Speed relative to the fastest baseline, and to the fastest kernel
	// mechanism, of the same pattern and size: above 1 is faster.
	VsBaseline *Ratio `json:"vs_baseline,omitempty"`
	VsKernel   *Ratio `json:"vs_kernel,omitempty"`

	Marks string   `json:"marks,omitempty"` // the table's: * ! ~
	Notes []string `json:"notes,omitempty"`
	Error string   `json:"error,omitempty"`
	// Skipped says why the case cannot run on this machine (a kernel
	// limit, say); it is not an error.
	Skipped string `json:"skipped,omitempty"`

	mech ipcbench.Mech
	hist *ipcbench.Histogram
}

// Pooled holds percentiles of the samples of all repetitions together.
type Pooled struct {
	P50NS  int64 `json:"p50_ns"`
	P90NS  int64 `json:"p90_ns"`
	P99NS  int64 `json:"p99_ns"`
	P999NS int64 `json:"p999_ns"`
}

// Rep is one repetition of a case.
type Rep struct {
	ElapsedNS  int64   `json:"elapsed_ns"`
	Samples    int     `json:"samples,omitempty"`
	P50NS      int64   `json:"p50_ns,omitempty"`
	P90NS      int64   `json:"p90_ns,omitempty"`
	P99NS      int64   `json:"p99_ns,omitempty"`
	P999NS     int64   `json:"p999_ns,omitempty"`
	MaxNS      int64   `json:"max_ns,omitempty"`
	Messages   int     `json:"messages,omitempty"`
	MsgsPerSec float64 `json:"msgs_per_s,omitempty"`
}

// Spread summarises the repetitions' values of Metric.
type Spread struct {
	Metric string  `json:"metric"`
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	// HalfRangePct is (Max-Min)/2 as a percentage of Median: the table's ±.
	HalfRangePct float64 `json:"half_range_percent"`
}

// Ratio compares a result with another mechanism's.
type Ratio struct {
	Mech  string  `json:"mech"`
	Speed float64 `json:"speed"` // this result's speed divided by Mech's
}

func (r *Result) roundTrip() bool { return r.Pattern == string(ipcbench.PatternRoundTrip) }

// add records one repetition.
func (r *Result) add(o ipcbench.Rep) {
	rep := Rep{ElapsedNS: o.Elapsed.Nanoseconds()}
	if o.Hist != nil {
		r.hist.Merge(o.Hist)
		rep.Samples = o.Samples
		h := o.Hist
		rep.P50NS, rep.P90NS, rep.P99NS, rep.P999NS, rep.MaxNS = h.Quantile(0.5), h.Quantile(0.9), h.Quantile(0.99), h.Quantile(0.999), h.Max()
	} else {
		rep.Messages = o.Messages
		rep.MsgsPerSec = float64(o.Messages) / o.Elapsed.Seconds()
	}
	r.Reps = append(r.Reps, rep)
}

// summarise computes the figures, ratios and notes of every result.
func (rep *Report) summarise(cfg config) {
	for _, r := range rep.Results {
		if len(r.Reps) == 0 {
			continue
		}
		var vals []float64
		if r.roundTrip() {
			h := r.hist
			r.Samples, r.MinNS, r.MeanNS, r.MaxNS = h.Count(), h.Min(), h.Mean(), h.Max()
			r.Pooled = &Pooled{h.Quantile(0.5), h.Quantile(0.9), h.Quantile(0.99), h.Quantile(0.999)}
			med := func(f func(Rep) int64) int64 {
				var v []float64
				for _, x := range r.Reps {
					v = append(v, float64(f(x)))
				}
				return int64(spread("", v).Median)
			}
			r.P50NS = med(func(x Rep) int64 { return x.P50NS })
			r.P90NS = med(func(x Rep) int64 { return x.P90NS })
			r.P99NS = med(func(x Rep) int64 { return x.P99NS })
			r.P999NS = med(func(x Rep) int64 { return x.P999NS })
			for _, x := range r.Reps {
				vals = append(vals, float64(x.P50NS))
			}
			r.Spread = spread("p50_ns", vals)
		} else {
			for _, x := range r.Reps {
				vals = append(vals, x.MsgsPerSec)
				r.Messages += int64(x.Messages)
			}
			r.Spread = spread("msgs_per_s", vals)
			r.MsgsPerSec = r.Spread.Median
			r.MBPerSec = r.MsgsPerSec * float64(r.Size) / 1e6
		}
	}
	// Ratios to the fastest baseline and the fastest kernel mechanism of
	// the same pattern and size.
	for _, r := range rep.Results {
		if len(r.Reps) == 0 {
			continue
		}
		var base, kern *Result
		for _, o := range rep.Results {
			if o.Pattern != r.Pattern || o.Size != r.Size || len(o.Reps) == 0 || o.Family == string(ipcbench.Shmkit) {
				continue
			}
			if base == nil || o.faster(base) {
				base = o
			}
			if o.Family == "kernel" && (kern == nil || o.faster(kern)) {
				kern = o
			}
		}
		if base != nil {
			r.VsBaseline = &Ratio{base.Mech, r.speed(base)}
		}
		if kern != nil {
			r.VsKernel = &Ratio{kern.Mech, r.speed(kern)}
		}
	}
	// Marks and notes.
	ncpu := runtime.NumCPU()
	sides := ncpu
	if len(cfg.cpus) > 0 {
		sides = len(slices.Compact(slices.Sorted(slices.Values(cfg.cpus))))
	}
	spinners := false
	for _, r := range rep.Results {
		spins := r.mech.Waits == ipcbench.Spins || r.mech.Waits == ipcbench.Adaptive
		switch {
		case sides < r.Procs:
			r.Marks += "!"
			r.Notes = append(r.Notes, fmt.Sprintf("%d processes on %d CPUs: they take turns on a CPU", r.Procs, sides))
			if spins {
				r.Notes = append(r.Notes, "a side that spins holds the CPU its peer needs until the scheduler preempts it")
			}
		case spins && ncpu <= r.Procs:
			r.Marks += "*"
			spinners = true
			r.Notes = append(r.Notes, fmt.Sprintf("spins while it waits, with %d processes on this machine's %d CPUs: no CPU is left for other load, which preempts a spinning side", r.Procs, ncpu))
		}
		if r.roundTrip() && len(r.Reps) > 0 && r.Samples < 1000 {
			r.Marks += "~"
			r.Notes = append(r.Notes, fmt.Sprintf("%d samples: p99.9 is about the maximum", r.Samples))
		}
	}
	if spinners {
		rep.Notes = append(rep.Notes, fmt.Sprintf("* This machine has %d CPUs: busy-polling with two processes leaves none for anything else; measured and marked as such.", ncpu))
	}
}

// faster reports whether r beats o: a lower p50, or more messages a second.
func (r *Result) faster(o *Result) bool {
	if r.roundTrip() {
		return r.P50NS < o.P50NS
	}
	return r.MsgsPerSec > o.MsgsPerSec
}

// speed is r's speed divided by o's.
func (r *Result) speed(o *Result) float64 {
	if r.roundTrip() {
		return float64(o.P50NS) / float64(max(r.P50NS, 1))
	}
	return r.MsgsPerSec / o.MsgsPerSec
}

func spread(metric string, vals []float64) *Spread {
	s := slices.Sorted(slices.Values(vals))
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	sp := &Spread{Metric: metric, Median: med, Min: s[0], Max: s[n-1]}
	if med > 0 {
		sp.HalfRangePct = 100 * (sp.Max - sp.Min) / 2 / med
	}
	return sp
}

func (rep *Report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

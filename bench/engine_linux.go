package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmkit/shmkit/internal/ipcbench"
)

// measure runs every case cfg selects, cfg.reps times, interleaved, and
// summarises them.
func measure(cfg config, stderr io.Writer) (*Report, error) {
	type bcase struct {
		m    ipcbench.Mech
		p    ipcbench.Pattern
		size int
	}
	var cases []bcase
	for _, p := range cfg.patterns {
		for _, size := range cfg.sizes {
			for _, m := range cfg.mechs {
				if m.Supports(p, size) {
					cases = append(cases, bcase{m, p, size})
				}
			}
		}
	}
	if len(cases) == 0 {
		return nil, errors.New("no selected mechanism supports the selected patterns and sizes (go run ./bench -list)")
	}
	rep := &Report{Machine: machineInfo(), Config: Config{
		Patterns: nil, Sizes: cfg.sizes, DurationNS: cfg.duration.Nanoseconds(), Reps: cfg.reps,
		CPUs: cfg.cpus, Order: "interleaved: repetition 1 of every case, then repetition 2, …",
		Warmup: "round trips: up to 1000 or a quarter of -duration; streams: rounds growing fourfold until one lasts a tenth of -duration",
	}}
	for _, m := range cfg.mechs {
		rep.Config.Mechs = append(rep.Config.Mechs, m.Name)
	}
	for _, p := range cfg.patterns {
		rep.Config.Patterns = append(rep.Config.Patterns, string(p))
	}
	rep.Config.Placement = placement(cfg.cpus)
	for _, c := range cases {
		rep.Results = append(rep.Results, &Result{
			Mech: c.m.Name, Family: family(c.m), Waits: string(c.m.Waits), Pattern: string(c.p),
			Size: c.size, Procs: c.m.Procs(c.p), mech: c.m, hist: new(ipcbench.Histogram),
		})
	}

	prog := newProgress(stderr, cfg.quiet, len(cases)*cfg.reps)
	before := cpuSnapshot()
	t0 := time.Now()
	opt := ipcbench.Options{CPUs: cfg.cpus}
	for r := 0; r < cfg.reps; r++ {
		for i, c := range cases {
			res := rep.Results[i]
			prog.step(fmt.Sprintf("rep %d/%d  %-9s %-10s %s", r+1, cfg.reps, c.p, c.m.Name, sizeName(c.size)))
			if res.Error != "" || res.Skipped != "" {
				continue
			}
			out, err := ipcbench.Measure(c.m, c.p, c.size, opt, cfg.duration)
			if errors.Is(err, errors.ErrUnsupported) {
				res.Skipped = err.Error()
				continue
			}
			if err != nil {
				res.Error = err.Error()
				continue
			}
			res.add(out)
		}
	}
	prog.finish()
	rep.Machine.WallNS = time.Since(t0).Nanoseconds()
	after := cpuSnapshot()
	rep.Machine.LoadAfter = loadAvg()
	rep.Machine.OtherCPU, rep.Machine.StealPercent = after.other(before)
	rep.summarise(cfg)
	return rep, nil
}

func placement(cpus []int) string {
	switch {
	case len(cpus) == 0:
		return "unpinned: the kernel places both sides"
	case len(cpus) == 1 || slices.Min(cpus) == slices.Max(cpus):
		return fmt.Sprintf("both sides pinned to CPU %d", cpus[0])
	}
	return fmt.Sprintf("side A pinned to CPU %d, side B to CPU %d", cpus[0], cpus[1%len(cpus)])
}

// ---- progress ----

// progress writes a line on stderr: rewritten in place on a terminal,
// one line per repetition otherwise.
type progress struct {
	w          io.Writer
	quiet, tty bool
	total, n   int
	t0         time.Time
	lastRep    string
}

func newProgress(w io.Writer, quiet bool, total int) *progress {
	p := &progress{w: w, quiet: quiet, total: total, t0: time.Now()}
	if f, ok := w.(*os.File); ok {
		_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		p.tty = err == nil
	}
	return p
}

func (p *progress) step(what string) {
	p.n++
	if p.quiet {
		return
	}
	eta := ""
	if p.n > 1 {
		per := time.Since(p.t0) / time.Duration(p.n-1)
		eta = fmt.Sprintf("  about %v left", (per * time.Duration(p.total-p.n+1)).Round(time.Second))
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K[%d/%d] %s%s", p.n, p.total, what, eta)
		return
	}
	if rep, _, _ := strings.Cut(what, "  "); rep != p.lastRep {
		p.lastRep = rep
		fmt.Fprintf(p.w, "bench: %s [%d/%d]%s\n", rep, p.n, p.total, eta)
	}
}

func (p *progress) finish() {
	if !p.quiet && p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// ---- the machine ----

func machineInfo() Machine {
	m := Machine{
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(),
		OS: runtime.GOOS, Arch: runtime.GOARCH, Started: time.Now().UTC().Truncate(time.Second),
		LoadBefore: loadAvg(),
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:])
	}
	return m
}

func loadAvg() [3]float64 {
	var l [3]float64
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Sscan(string(b), &l[0], &l[1], &l[2])
	}
	return l
}

// cpuTimes is the machine's CPU time and this process's (with its reaped
// children), in seconds.
type cpuTimes struct {
	busy, steal, total, ours float64
	at                       time.Time
}

func cpuSnapshot() cpuTimes {
	t := cpuTimes{at: time.Now()}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		var v [10]float64
		for i := 1; i < len(f) && i <= len(v); i++ {
			fmt.Sscan(f[i], &v[i-1])
		}
		// user nice system idle iowait irq softirq steal, in 1/100 s.
		t.busy = (v[0] + v[1] + v[2] + v[5] + v[6]) / 100
		t.steal = v[7] / 100
		t.total = (v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7]) / 100
	}
	for _, who := range []int{unix.RUSAGE_SELF, unix.RUSAGE_CHILDREN} {
		var ru unix.Rusage
		if unix.Getrusage(who, &ru) == nil {
			t.ours += float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
		}
	}
	return t
}

// other returns the CPUs' worth of time that other processes used between
// b and t, on average, and the percentage of CPU time the hypervisor stole.
func (t cpuTimes) other(b cpuTimes) (cpus, stealPct float64) {
	wall := t.at.Sub(b.at).Seconds()
	if wall <= 0 {
		return 0, 0
	}
	cpus = max(0, (t.busy-b.busy)-(t.ours-b.ours)) / wall
	if total := t.total - b.total; total > 0 {
		stealPct = 100 * (t.steal - b.steal) / total
	}
	return cpus, stealPct
}

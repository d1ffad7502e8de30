package main

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shmkit/shmkit/internal/ipcbench"
)

// writeTable writes the report as aligned text.
func (rep *Report) writeTable(w io.Writer) {
	m := rep.Machine
	fmt.Fprintf(w, "shmkit bench: %s, %d CPUs, %s, %s %s/%s\n", orUnknown(m.CPU), m.CPUs, orUnknown(m.Kernel), m.Go, m.OS, m.Arch)
	c := rep.Config
	reps := "repetitions"
	if c.Reps == 1 {
		reps = "repetition"
	}
	fmt.Fprintf(w, "%s; %d %s of %v per case, interleaved, each after a warm-up; %v in all\n",
		upperFirst(c.Placement), c.Reps, reps, time.Duration(c.DurationNS), roundWall(time.Duration(m.WallNS)))
	fmt.Fprintf(w, "load average %.2f before, %.2f after; other processes used %.2f CPUs on average during the run; steal %.1f%%\n",
		m.LoadBefore[0], m.LoadAfter[0], m.OtherCPU, m.StealPercent)

	for _, p := range []ipcbench.Pattern{ipcbench.PatternRoundTrip, ipcbench.PatternStream} {
		var rs []*Result
		for _, r := range rep.Results {
			if r.Pattern == string(p) {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			continue
		}
		t := &table{}
		if p == ipcbench.PatternRoundTrip {
			fmt.Fprintf(w, "\nRound trip: A sends a message, B sends it back. Latency in µs: each repetition's percentiles\n"+
				"of its every round trip, the median over repetitions; max and samples of all.\n")
			t.header("size", "mechanism", "family", ">p50", ">p99", ">p99.9", ">max", ">samples", ">p50 of reps", "vs fastest baseline", "vs fastest kernel")
		} else {
			fmt.Fprintf(w, "\nStream: B sends messages as fast as it can, A receives them. Median of the repetitions.\n")
			t.header("size", "mechanism", "family", ">msgs/s", ">MB/s", ">msgs/s of reps", "vs fastest baseline", "vs fastest kernel")
		}
		prev := -1
		for _, r := range rs {
			size := ""
			if r.Size != prev {
				if prev >= 0 {
					t.blank()
				}
				size, prev = sizeName(r.Size), r.Size
			}
			name := r.Mech + r.Marks
			if r.Error != "" {
				t.row(size, name, r.Family, "error: "+r.Error)
				continue
			}
			if r.Skipped != "" {
				t.row(size, name, r.Family, "skipped: "+r.Skipped)
				continue
			}
			if r.roundTrip() {
				sp := us(int64(r.Spread.Min)) + "–" + us(int64(r.Spread.Max))
				t.row(size, name, r.Family, us(r.P50NS), us(r.P99NS), us(r.P999NS), us(r.MaxNS), count(float64(r.Samples)), sp, ratio(r.VsBaseline), ratio(r.VsKernel))
			} else {
				sp := count(r.Spread.Min) + "–" + count(r.Spread.Max)
				t.row(size, name, r.Family, count(r.MsgsPerSec), mbps(r.MBPerSec), sp, ratio(r.VsBaseline), ratio(r.VsKernel))
			}
		}
		t.write(w)
	}

	fmt.Fprint(w, `
vs fastest baseline, vs fastest kernel: the row's speed divided by that of the fastest
  baseline (or of the fastest pipe, socket or eventfd) at the same size: 3.0× is three
  times as fast, 0.5× half as fast. Round trips compare p50, streams msgs/s.
of reps: the lowest and highest of the repetitions' p50 (or msgs/s). A wide range means
  the machine was noisy, or the mechanism behaves differently from run to run.
`)
	marks := map[rune]string{
		'*': "spins while it waits, and this machine has no CPU to spare for other load, which preempts it",
		'!': "more processes than CPUs: the sides take turns on a CPU",
		'~': "fewer than 1000 samples: p99.9 is about the maximum",
	}
	for _, mk := range "*!~" {
		for _, r := range rep.Results {
			if strings.ContainsRune(r.Marks, mk) {
				fmt.Fprintf(w, "%c %s.\n", mk, marks[mk])
				break
			}
		}
	}
	fmt.Fprintln(w, "\nMechanisms:")
	seen := map[string]bool{}
	for _, name := range rep.Config.Mechs {
		for _, r := range rep.Results {
			if r.Mech == name && !seen[name] {
				seen[name] = true
				fmt.Fprintf(w, "  %-11s %s\n", r.Mech, r.mech.About)
			}
		}
	}
}

// roundWall rounds a run's duration to what a reader wants to know.
func roundWall(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// us writes nanoseconds as microseconds with three significant digits or
// so.
func us(ns int64) string {
	v := float64(ns) / 1e3
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// count writes n with a k or M suffix.
func count(n float64) string {
	switch {
	case n >= 10e6:
		return fmt.Sprintf("%.0fM", n/1e6)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", n/1e6)
	case n >= 10e3:
		return fmt.Sprintf("%.0fk", n/1e3)
	case n >= 1e3:
		return fmt.Sprintf("%.1fk", n/1e3)
	}
	return fmt.Sprintf("%.0f", n)
}

func mbps(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func ratio(r *Ratio) string {
	if r == nil {
		return ""
	}
	var s string
	switch {
	case r.Speed >= 10:
		s = fmt.Sprintf("%.0f×", r.Speed)
	case r.Speed >= 1:
		s = fmt.Sprintf("%.1f×", r.Speed)
	case r.Speed >= 0.1:
		s = fmt.Sprintf("%.2f×", r.Speed)
	default:
		s = fmt.Sprintf("%.2g×", r.Speed)
	}
	return fmt.Sprintf("%7s %s", s, r.Mech)
}

// table aligns columns: a header cell starting with '>' makes its column
// right-aligned.
type table struct {
	right []bool
	rows  [][]string // nil: a blank line
}

func (t *table) header(cells ...string) {
	h := make([]string, len(cells))
	for i, c := range cells {
		t.right = append(t.right, strings.HasPrefix(c, ">"))
		h[i] = strings.TrimPrefix(c, ">")
	}
	t.rows = append(t.rows, h)
}

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }
func (t *table) blank()              { t.rows = append(t.rows, nil) }

func (t *table) write(w io.Writer) {
	full := len(t.right)
	width := make([]int, full)
	for _, r := range t.rows {
		for i, c := range r {
			// The last cell of a short row (an error) takes no width.
			if len(r) == full || i < len(r)-1 {
				width[i] = max(width[i], utf8.RuneCountInString(c))
			}
		}
	}
	for _, r := range t.rows {
		var b strings.Builder
		for i, c := range r {
			if i > 0 {
				b.WriteString("  ")
			}
			last := i == len(r)-1
			if last && len(r) < full {
				b.WriteString(c)
				continue
			}
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			switch {
			case t.right[i]:
				b.WriteString(pad + c)
			case last:
				b.WriteString(c)
			default:
				b.WriteString(c + pad)
			}
		}
		fmt.Fprintln(w, b.String())
	}
}

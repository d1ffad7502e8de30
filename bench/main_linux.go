package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmkit/shmkit/internal/ipcbench"
	"github.com/shmkit/shmkit/spawn"
)

func main() {
	spawn.Main() // in a peer process: runs its side, then exits
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// config is what the flags select.
type config struct {
	mechs    []ipcbench.Mech
	patterns []ipcbench.Pattern
	sizes    []int
	duration time.Duration
	reps     int
	cpus     []int
	jsonPath string
	svgPath  string
	quiet    bool
}

const usageText = `usage: go run ./bench [flags]

Measures what moving a message between two processes costs on this machine:
shmkit's rings, locks, semaphores and events beside raw shared memory, pipes,
sockets, eventfd and Go channels, under the same rules. Round trips give
latency percentiles (µs), streams give throughput. With no flags it runs
every mechanism at every size in about a minute and prints a table.

Examples:
  go run ./bench -svg bench.svg               the table, and a chart
  go run ./bench -mech spsc,unix,chan -sizes 64,1M
  go run ./bench -duration 1s -reps 5 -cpu 0,1 -json out.json
  go run ./bench -list                        what each mechanism does

Flags:
`

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mechFlag := fs.String("mech", "all", "mechanisms, comma-separated: names (see -list), `all`, shmkit or baselines")
	patFlag := fs.String("pattern", "roundtrip,stream", "patterns: roundtrip, stream or both")
	sizeFlag := fs.String("sizes", "0,8,64,4K,64K,1M", "message sizes in bytes (K and M suffixes: 1024 and 1048576); 0 is a signal with no payload")
	dur := fs.Duration("duration", 100*time.Millisecond, "measuring time of each repetition of each case, after its warm-up")
	reps := fs.Int("reps", 3, "repetitions of each case, interleaved")
	cpuFlag := fs.String("cpu", "", "pin side A to the first CPU and side B to the second (`0,1`), or both to one (0); empty: no pinning")
	jsonPath := fs.String("json", "", "write every figure as JSON to `FILE` (- : standard output, instead of the table)")
	svgPath := fs.String("svg", "", "draw a chart to `FILE`")
	quiet := fs.Bool("q", false, "no progress line on standard error")
	list := fs.Bool("list", false, "list the mechanisms and exit")
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		return 2
	}
	if *list {
		listMechs(stdout)
		return 0
	}
	cfg := config{duration: *dur, reps: *reps, jsonPath: *jsonPath, svgPath: *svgPath, quiet: *quiet}
	var err error
	if cfg.mechs, err = parseMechs(*mechFlag); err == nil {
		if cfg.patterns, err = parsePatterns(*patFlag); err == nil {
			if cfg.sizes, err = parseSizes(*sizeFlag); err == nil {
				cfg.cpus, err = parseCPUs(*cpuFlag)
			}
		}
	}
	if err == nil && (cfg.duration <= 0 || cfg.reps < 1) {
		err = errors.New("-duration and -reps must be positive")
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	rep, err := measure(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	code := 0
	if cfg.jsonPath != "" {
		if err := writeFile(cfg.jsonPath, stdout, rep.writeJSON); err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			code = 1
		}
	}
	if cfg.jsonPath != "-" {
		rep.writeTable(stdout)
	}
	if cfg.svgPath != "" {
		if err := writeFile(cfg.svgPath, stdout, rep.writeSVG); err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			code = 1
		}
	}
	for _, r := range rep.Results {
		if r.Error != "" {
			code = 1
		}
	}
	return code
}

// writeFile writes with fn to path, or to stdout for "-".
func writeFile(path string, stdout io.Writer, fn func(io.Writer) error) error {
	if path == "-" {
		return fn(stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func listMechs(w io.Writer) {
	fmt.Fprintln(w, "mechanism    family    waits     patterns          sizes       what a message does")
	for _, m := range ipcbench.Mechs() {
		var ps []string
		for _, p := range m.Patterns {
			ps = append(ps, string(p))
		}
		sizes := fmt.Sprintf("%s–%s", sizeName(m.MinSize), sizeName(m.MaxSize))
		switch {
		case m.MaxSize == 0:
			sizes = "0 (signal)"
		case m.MaxSize == ipcbench.Unlimited:
			sizes = fmt.Sprintf("%s–", sizeName(m.MinSize))
		}
		name := m.Name
		if !m.Default {
			name += " ‡"
		}
		fmt.Fprintf(w, "%-12s %-9s %-9s %-17s %-11s %s\n", name, family(m), m.Waits, strings.Join(ps, ","), sizes, m.About)
	}
	fmt.Fprintln(w, "queue-PxC    shmkit    adaptive  stream            1 B–        ring.Queue, P producer and C consumer processes ‡")
	fmt.Fprintln(w, "\n‡ run only when named in -mech.")
}

// family is "shmkit", "baseline" or "kernel" (a baseline through the kernel).
func family(m ipcbench.Mech) string {
	if m.Kernel {
		return "kernel"
	}
	return string(m.Family)
}

func parseMechs(s string) ([]ipcbench.Mech, error) {
	var out []ipcbench.Mech
	add := func(m ipcbench.Mech) {
		if !slices.ContainsFunc(out, func(o ipcbench.Mech) bool { return o.Name == m.Name }) {
			out = append(out, m)
		}
	}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		switch name {
		case "all", "shmkit", "baselines":
			for _, m := range ipcbench.Mechs() {
				if m.Default && (name == "all" || (name == "shmkit") == (m.Family == ipcbench.Shmkit)) {
					add(m)
				}
			}
		case "":
		default:
			m, ok := ipcbench.Lookup(name)
			if !ok {
				return nil, fmt.Errorf("no mechanism %q (go run ./bench -list)", name)
			}
			add(m)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no mechanism selected")
	}
	// Display order: the registry's, N→N Queues after the 1→1 one.
	order := func(m ipcbench.Mech) int {
		for i, r := range ipcbench.Mechs() {
			if r.Name == m.Name {
				return 2 * i
			}
		}
		for i, r := range ipcbench.Mechs() {
			if r.Name == ipcbench.Queue {
				return 2*i + 1
			}
		}
		return 1 << 20
	}
	slices.SortStableFunc(out, func(a, b ipcbench.Mech) int { return order(a) - order(b) })
	return out, nil
}

func parsePatterns(s string) ([]ipcbench.Pattern, error) {
	var out []ipcbench.Pattern
	for _, p := range strings.Split(s, ",") {
		switch strings.TrimSpace(p) {
		case "roundtrip", "rt", "latency":
			out = append(out, ipcbench.PatternRoundTrip)
		case "stream", "throughput":
			out = append(out, ipcbench.PatternStream)
		case "both":
			out = append(out, ipcbench.PatternRoundTrip, ipcbench.PatternStream)
		default:
			return nil, fmt.Errorf("no pattern %q: roundtrip, stream or both", p)
		}
	}
	slices.Sort(out) // roundtrip before stream
	return slices.Compact(out), nil
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.ToUpper(strings.TrimSpace(f))
		f = strings.TrimSuffix(strings.TrimSuffix(f, "B"), "I")
		mult := 1
		switch {
		case strings.HasSuffix(f, "K"):
			mult, f = 1<<10, f[:len(f)-1]
		case strings.HasSuffix(f, "M"):
			mult, f = 1<<20, f[:len(f)-1]
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 || n > 1<<30/mult {
			return nil, fmt.Errorf("bad size %q", f)
		}
		out = append(out, n*mult)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func parseCPUs(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n >= 1024 {
			return nil, fmt.Errorf("bad CPU %q", f)
		}
		out = append(out, n)
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err == nil {
		for _, c := range out {
			if !set.IsSet(c) {
				return nil, fmt.Errorf("CPU %d is not one this process may run on (it may use %d CPUs)", c, set.Count())
			}
		}
	}
	return out, nil
}

// sizeName writes a size as 64 B, 4 KiB, 1 MiB.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

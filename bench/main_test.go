//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/shmkit/shmkit/internal/ipcbench"
	"github.com/shmkit/shmkit/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// TestQuick runs the tool end to end in a quick mode: every mechanism, the
// N→N Queue and the batched ring, both patterns, three sizes, tiny
// durations. The JSON must hold every mechanism and pattern with positive,
// ordered figures, the table every row, and the chart must be well-formed
// XML with a series for each.
func TestQuick(t *testing.T) {
	dir := t.TempDir()
	jsonPath, svgPath := filepath.Join(dir, "out.json"), filepath.Join(dir, "out.svg")
	var stdout, stderr bytes.Buffer
	args := []string{"-duration", "2ms", "-reps", "2", "-sizes", "0,64,4K", "-mech", "all,queue-2x2,spsc-batch",
		"-json", jsonPath, "-svg", svgPath}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "rep 2/2") {
		t.Errorf("no progress on stderr: %q", stderr.String())
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	m := rep.Machine
	if m.CPUs < 1 || m.Go == "" || m.Kernel == "" || m.WallNS <= 0 {
		t.Errorf("machine: %+v", m)
	}

	// Every mechanism asked for, with every pattern it supports at these
	// sizes.
	want := map[string]bool{}
	var mechs []ipcbench.Mech
	for _, mm := range ipcbench.Mechs() {
		if mm.Default {
			mechs = append(mechs, mm)
		}
	}
	for _, name := range []string{"queue-2x2", ipcbench.SPSCBatch} {
		mm, _ := ipcbench.Lookup(name)
		mechs = append(mechs, mm)
	}
	for _, mm := range mechs {
		for _, p := range mm.Patterns {
			for _, size := range []int{0, 64, 4096} {
				if mm.Supports(p, size) {
					want[mm.Name+"/"+string(p)] = true
				}
			}
		}
	}
	got := map[string]bool{}
	for _, r := range rep.Results {
		got[r.Mech+"/"+r.Pattern] = true
		if r.Error != "" {
			t.Errorf("%s %s %d: %s", r.Mech, r.Pattern, r.Size, r.Error)
			continue
		}
		if len(r.Reps) != 2 || r.Spread == nil || r.Spread.Min > r.Spread.Median || r.Spread.Median > r.Spread.Max {
			t.Errorf("%s %s %d: reps %d, spread %+v", r.Mech, r.Pattern, r.Size, len(r.Reps), r.Spread)
		}
		if r.VsBaseline == nil || r.VsBaseline.Speed <= 0 {
			t.Errorf("%s %s %d: no ratio to a baseline", r.Mech, r.Pattern, r.Size)
		}
		if r.Pattern == string(ipcbench.PatternRoundTrip) {
			if r.Samples == 0 || r.P50NS <= 0 || r.P99NS < r.P50NS || r.P999NS < r.P99NS || r.MaxNS < r.P999NS || r.MinNS > r.P50NS {
				t.Errorf("%s %d: samples %d, min %d p50 %d p99 %d p99.9 %d max %d", r.Mech, r.Size, r.Samples, r.MinNS, r.P50NS, r.P99NS, r.P999NS, r.MaxNS)
			}
		} else if r.Messages <= 0 || r.MsgsPerSec <= 0 || r.MBPerSec <= 0 {
			t.Errorf("%s stream %d: %d messages, %v msgs/s, %v MB/s", r.Mech, r.Size, r.Messages, r.MsgsPerSec, r.MBPerSec)
		}
	}
	if !reflect.DeepEqual(want, got) {
		t.Errorf("mechanism/pattern pairs: got\n%v\nwant\n%v", got, want)
	}

	table := stdout.String()
	for _, s := range []string{"Round trip", "Stream", "vs fastest baseline", "4 KiB", "queue-2x2", "spsc-batch", "eventfd"} {
		if !strings.Contains(table, s) {
			t.Errorf("table lacks %q:\n%s", s, table)
		}
	}

	f, err := os.Open(svgPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	series := checkSVG(t, f)
	for _, r := range rep.Results {
		if !series[r.Pattern+"/"+r.Mech] {
			t.Errorf("chart lacks the %s series of %s", r.Pattern, r.Mech)
		}
	}
}

// checkSVG parses an SVG document to its end, failing on malformed XML, and
// returns the pattern/mech of every series in it.
func checkSVG(t *testing.T, r io.Reader) map[string]bool {
	t.Helper()
	series := map[string]bool{}
	d := xml.NewDecoder(r)
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			attr := map[string]string{}
			for _, a := range se.Attr {
				attr[a.Name.Local] = a.Value
			}
			if attr["class"] == "series" {
				series[attr["data-pattern"]+"/"+attr["data-mech"]] = true
			}
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q", root)
	}
	return series
}

// TestJSONToStdout: -json - writes only JSON on stdout.
func TestJSONToStdout(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-json", "-", "-q", "-mech", "chan", "-sizes", "8", "-pattern", "roundtrip", "-duration", "1ms", "-reps", "1"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var rep Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, stdout.String())
	}
	if len(rep.Results) != 1 || rep.Results[0].Mech != "chan" || rep.Results[0].Samples == 0 {
		t.Errorf("results: %+v", rep.Results)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr with -q: %q", stderr.String())
	}
}

// TestPinnedRun pins both sides to CPU 0.
func TestPinnedRun(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-q", "-cpu", "0", "-mech", "spsc,unix,chan", "-sizes", "64", "-duration", "1ms", "-reps", "1"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "Both sides pinned to CPU 0") || !strings.Contains(stdout.String(), "spsc!") {
		t.Errorf("placement not reported, or spsc not marked:\n%s", stdout.String())
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string // in stdout or stderr
	}{
		{[]string{"-h"}, 0, "usage: go run ./bench"},
		{[]string{"-list"}, 0, "unixpacket"},
		{[]string{"-mech", "nope"}, 2, `no mechanism "nope"`},
		{[]string{"-sizes", "12Q"}, 2, "bad size"},
		{[]string{"-pattern", "sideways"}, 2, "no pattern"},
		{[]string{"-cpu", "x"}, 2, "bad CPU"},
		{[]string{"-cpu", "0,1000"}, 2, "CPU 1000 is not one"},
		{[]string{"-reps", "0"}, 2, "must be positive"},
		{[]string{"-mech", "mutex", "-pattern", "stream"}, 1, "no selected mechanism supports"},
		{[]string{"extra"}, 2, "unexpected arguments"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String()+stderr.String(), tc.out) {
			t.Errorf("%q: exit %d, want %d and %q in:\n%s%s", tc.args, code, tc.code, tc.out, stdout.String(), stderr.String())
		}
	}
}

func TestParse(t *testing.T) {
	sizes, err := parseSizes("1M, 0,8,64,4K,64KiB,64k,1mb")
	if err != nil {
		t.Fatal(err)
	}
	if want, got := []int{0, 8, 64, 4096, 65536, 1 << 20}, sizes; !reflect.DeepEqual(want, got) {
		t.Errorf("sizes: got\n%v\nwant\n%v", got, want)
	}
	ms, err := parseMechs("unix,shmkit,queue-3x1")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	if !slices.Contains(names, "queue-3x1") || names[len(names)-1] != "unix" || names[0] != "spsc" {
		t.Errorf("mechanisms in display order: %v", names)
	}
	if i, j := slices.Index(names, "queue"), slices.Index(names, "queue-3x1"); j != i+1 {
		t.Errorf("queue-3x1 not after queue: %v", names)
	}
}

// TestReportUnits checks the summary, ratios, marks and formats on a report
// built by hand.
func TestReportUnits(t *testing.T) {
	mk := func(name string, p ipcbench.Pattern, size int, vals ...int64) *Result {
		m, _ := ipcbench.Lookup(name)
		r := &Result{Mech: name, Family: family(m), Pattern: string(p), Size: size, Procs: m.Procs(p), mech: m, hist: new(ipcbench.Histogram)}
		for _, v := range vals {
			if p == ipcbench.PatternRoundTrip {
				h := new(ipcbench.Histogram)
				for i := 0; i < 1000; i++ {
					h.Record(v)
				}
				r.add(ipcbench.Rep{Hist: h, Samples: 1000, Elapsed: 1000})
			} else {
				r.add(ipcbench.Rep{Messages: int(v), Elapsed: 1e9})
			}
		}
		return r
	}
	rep := &Report{Config: Config{Mechs: []string{"spsc", "unix", "atomic"}, Placement: "unpinned"}, Results: []*Result{
		mk("spsc", ipcbench.PatternRoundTrip, 64, 100, 80, 120), // exact: below 256 ns
		mk("atomic", ipcbench.PatternRoundTrip, 64, 50),
		mk("unix", ipcbench.PatternRoundTrip, 64, 250),
		mk("spsc", ipcbench.PatternStream, 64, 30e6, 20e6, 25e6),
		mk("unix", ipcbench.PatternStream, 64, 1e6),
	}}
	rep.summarise(config{})
	rt, st := rep.Results[0], rep.Results[3]
	if rt.P50NS != 100 || rt.Spread.Median != 100 || rt.Spread.HalfRangePct != 20 {
		t.Errorf("round trip: p50 %d, spread %+v", rt.P50NS, rt.Spread)
	}
	if *rt.VsBaseline != (Ratio{"atomic", 0.5}) || *rt.VsKernel != (Ratio{"unix", 2.5}) {
		t.Errorf("round-trip ratios %+v %+v", rt.VsBaseline, rt.VsKernel)
	}
	if st.MsgsPerSec != 25e6 || st.MBPerSec != 1600 || *st.VsBaseline != (Ratio{"unix", 25}) {
		t.Errorf("stream: %v msgs/s %v MB/s vs %+v", st.MsgsPerSec, st.MBPerSec, st.VsBaseline)
	}
	var buf bytes.Buffer
	rep.writeTable(&buf)
	for _, s := range []string{"0.10", "0.50× atomic", "2.5× unix", "25M", "1600", "0.08–0.12", "20M–30M"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, buf.String())
		}
	}
	var svg bytes.Buffer
	if err := rep.writeSVG(&svg); err != nil {
		t.Fatal(err)
	}
	series := checkSVG(t, &svg)
	if want, got := map[string]bool{"roundtrip/spsc": true, "roundtrip/atomic": true, "roundtrip/unix": true, "stream/spsc": true, "stream/unix": true}, series; !reflect.DeepEqual(want, got) {
		t.Errorf("series: got\n%v\nwant\n%v", got, want)
	}
}

func TestTableAlignment(t *testing.T) {
	tb := &table{}
	tb.header("a", ">num", "c")
	tb.row("xx", "1", "long cell")
	tb.row("y", "12345", "z")
	tb.row("e", "error: something")
	var buf bytes.Buffer
	tb.write(&buf)
	want := "a     num  c\n" +
		"xx      1  long cell\n" +
		"y   12345  z\n" +
		"e   error: something\n"
	if got := buf.String(); got != want {
		t.Errorf("table: got\n%v\nwant\n%v", got, want)
	}
}

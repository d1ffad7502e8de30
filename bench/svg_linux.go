package main

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// The chart: round-trip latency percentiles of every mechanism and size on
// a log scale, then stream throughput against message size, one line per
// mechanism. Hand-written SVG: a few elements, no scripts, no fonts beyond
// the viewer's sans-serif.

const (
	svgWidth  = 980
	svgLeft   = 190 // where the plots start
	svgRight  = 950
	rowHeight = 15
)

// familyColour: shmkit warm, baselines cool, kernel baselines purple.
var familyColour = map[string]string{"shmkit": "#d9480f", "baseline": "#1971c2", "kernel": "#7048e8"}

// lineColours tell the stream lines apart: warm for shmkit, cool for the
// baselines.
var lineColours = map[bool][]string{
	true:  {"#d9480f", "#f59f00", "#c2255c", "#8d5524", "#e8590c", "#a61e4d", "#fd7e14"},
	false: {"#1971c2", "#0b7285", "#2b8a3e", "#7048e8", "#495057", "#3bc9db", "#5c940d"},
}

func (rep *Report) writeSVG(w io.Writer) error {
	bw := bufio.NewWriter(w)
	var body strings.Builder
	y := 30
	m := rep.Machine
	fmt.Fprintf(&body, `<text x="20" y="%d" class="title">IPC cost on %s (%d CPUs), %s</text>`+"\n", y, esc(orUnknown(m.CPU)), m.CPUs, esc(m.Go))
	y += 18
	fmt.Fprintf(&body, `<text x="20" y="%d" class="small">%s; %d repetitions of %v per case; load average %.2f→%.2f, other processes %.2f CPUs</text>`+"\n",
		y, esc(upperFirst(rep.Config.Placement)), rep.Config.Reps, time.Duration(rep.Config.DurationNS), m.LoadBefore[0], m.LoadAfter[0], m.OtherCPU)
	y += 20
	y = rep.svgLatency(&body, y)
	y = rep.svgThroughput(&body, y+30)
	fmt.Fprintf(bw, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">
<style>.title{font-size:15px;font-weight:bold}.h{font-size:13px;font-weight:bold}.small{font-size:10px;fill:#555}.grid{stroke:#ddd;stroke-width:1}.axis{stroke:#888}</style>
<rect width="100%%" height="100%%" fill="white"/>
`, svgWidth, y+20, svgWidth, y+20)
	bw.WriteString(body.String())
	bw.WriteString("</svg>\n")
	return bw.Flush()
}

// logScale maps v in [lo, hi] (log) to [x0, x1].
func logScale(v, lo, hi, x0, x1 float64) float64 {
	v = math.Min(math.Max(v, lo), hi)
	return x0 + (math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))*(x1-x0)
}

// decades returns the powers of ten around [lo, hi].
func decades(lo, hi float64) (float64, float64) {
	return math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
}

func (rep *Report) svgLatency(b *strings.Builder, y int) int {
	var rs []*Result
	lo, hi := math.Inf(1), 0.0
	for _, r := range rep.Results {
		if r.roundTrip() && len(r.Reps) > 0 {
			rs = append(rs, r)
			lo = math.Min(lo, float64(max(r.MinNS, 1))/1e3)
			hi = math.Max(hi, float64(r.MaxNS)/1e3)
		}
	}
	if len(rs) == 0 {
		return y
	}
	lo, hi = decades(lo, hi)
	fmt.Fprintf(b, `<text x="20" y="%d" class="h">Round trip latency, µs (log scale)</text>`+"\n", y+14)
	// Legend: the markers.
	lx := svgLeft + 230
	legend := []struct{ shape, label string }{{"bar", "p50 to p99"}, {"p50", "p50"}, {"p999", "p99.9"}, {"max", "max"}}
	for _, l := range legend {
		marker(b, l.shape, float64(lx), float64(y+10), "#444")
		fmt.Fprintf(b, `<text x="%d" y="%d" class="small">%s</text>`+"\n", lx+10, y+14, l.label)
		lx += 90
	}
	for _, f := range []string{"shmkit", "baseline", "kernel"} {
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d" class="small">%s</text>`+"\n", lx, y+5, familyColour[f], lx+14, y+14, f)
		lx += 70
	}
	y += 26
	top := y
	// Rows, grouped by size.
	var rows strings.Builder
	prev := -1
	for _, r := range rs {
		if r.Size != prev {
			prev = r.Size
			y += 6
			fmt.Fprintf(&rows, `<text x="20" y="%d" font-weight="bold">%s</text>`+"\n", y+11, sizeName(r.Size))
		}
		col := familyColour[r.Family]
		x := func(ns int64) float64 { return logScale(float64(ns)/1e3, lo, hi, svgLeft, svgRight) }
		cy := float64(y) + rowHeight/2
		fmt.Fprintf(&rows, `<g class="series" data-pattern="roundtrip" data-mech="%s" data-size="%d">`, esc(r.Mech), r.Size)
		fmt.Fprintf(&rows, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, svgLeft-8, cy+4, esc(r.Mech+r.Marks))
		fmt.Fprintf(&rows, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-opacity="0.35" stroke-width="1"/>`, x(r.P50NS), cy, x(r.MaxNS), cy, col)
		fmt.Fprintf(&rows, `<rect x="%.1f" y="%.1f" width="%.1f" height="6" fill="%s" fill-opacity="0.45"/>`, x(r.P50NS), cy-3, math.Max(x(r.P99NS)-x(r.P50NS), 1), col)
		marker(&rows, "p50", x(r.P50NS), cy, col)
		marker(&rows, "p999", x(r.P999NS), cy, col)
		marker(&rows, "max", x(r.MaxNS), cy, col)
		fmt.Fprintf(&rows, `<title>%s %s: p50 %s µs, p99 %s µs, p99.9 %s µs, max %s µs</title></g>`+"\n",
			esc(r.Mech), sizeName(r.Size), us(r.P50NS), us(r.P99NS), us(r.P999NS), us(r.MaxNS))
		y += rowHeight
	}
	// Grid first, so the rows draw over it.
	for d := lo; d <= hi*1.001; d *= 10 {
		x := logScale(d, lo, hi, svgLeft, svgRight)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" class="grid"/>`+"\n", x, top, x, y+4)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle" class="small">%s</text>`+"\n", x, y+16, trimFloat(d))
	}
	b.WriteString(rows.String())
	return y + 20
}

// marker draws one of the legend's shapes centred on (x, y).
func marker(b *strings.Builder, shape string, x, y float64, col string) {
	switch shape {
	case "bar":
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="16" height="6" fill="%s" fill-opacity="0.45"/>`, x-8, y-3, col)
	case "p50":
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`, x, y, col)
	case "p999":
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="6" height="6" fill="white" stroke="%s"/>`, x-3, y-3, col)
	case "max":
		fmt.Fprintf(b, `<path d="M%.1f %.1fl6 6m0 -6l-6 6" stroke="%s"/>`, x-3, y-3, col)
	}
}

func (rep *Report) svgThroughput(b *strings.Builder, y int) int {
	var sizes []int
	lo, hi := math.Inf(1), 0.0
	var mechs []string
	byMech := map[string][]*Result{}
	for _, r := range rep.Results {
		if r.roundTrip() || len(r.Reps) == 0 {
			continue
		}
		if len(byMech[r.Mech]) == 0 {
			mechs = append(mechs, r.Mech)
		}
		byMech[r.Mech] = append(byMech[r.Mech], r)
		if !contains(sizes, r.Size) {
			sizes = append(sizes, r.Size)
		}
		lo, hi = math.Min(lo, r.MBPerSec), math.Max(hi, r.MBPerSec)
	}
	if len(mechs) == 0 {
		return y
	}
	lo, hi = decades(math.Max(lo, 1e-3), hi)
	fmt.Fprintf(b, `<text x="20" y="%d" class="h">Stream throughput, MB/s (log scale), by message size</text>`+"\n", y)
	y += 14
	const plotH = 320
	x0, x1 := float64(svgLeft), float64(svgRight-150)
	top, bottom := float64(y), float64(y+plotH)
	xAt := func(size int) float64 {
		if len(sizes) == 1 {
			return (x0 + x1) / 2
		}
		for i, s := range sizes {
			if s == size {
				return x0 + float64(i)/float64(len(sizes)-1)*(x1-x0)
			}
		}
		return x0
	}
	yAt := func(v float64) float64 { return bottom - logScale(math.Max(v, lo), lo, hi, 0, plotH) }
	for d := lo; d <= hi*1.001; d *= 10 {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="grid"/><text x="%.1f" y="%.1f" text-anchor="end" class="small">%s</text>`+"\n",
			x0, yAt(d), x1, yAt(d), x0-6, yAt(d)+3, trimFloat(d))
	}
	for _, s := range sizes {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="grid"/><text x="%.1f" y="%.1f" text-anchor="middle" class="small">%s</text>`+"\n",
			xAt(s), top, xAt(s), bottom, xAt(s), bottom+14, sizeName(s))
	}
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="axis"/>`+"\n", x0, bottom, x1, bottom)
	nth := map[bool]int{}
	for i, name := range mechs {
		rs := byMech[name]
		shmkit := rs[0].Family == "shmkit"
		pal := lineColours[shmkit]
		col := pal[nth[shmkit]%len(pal)]
		nth[shmkit]++
		dash := ""
		if !shmkit {
			dash = ` stroke-dasharray="5 3"`
		}
		var pts []string
		for _, r := range rs {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xAt(r.Size), yAt(r.MBPerSec)))
		}
		fmt.Fprintf(b, `<g class="series" data-pattern="stream" data-mech="%s">`, esc(name))
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`, strings.Join(pts, " "), col, dash)
		for _, r := range rs {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s %s: %s msgs/s, %s MB/s</title></circle>`,
				xAt(r.Size), yAt(r.MBPerSec), col, esc(name), sizeName(r.Size), count(r.MsgsPerSec), mbps(r.MBPerSec))
		}
		ly := top + float64(i)*16
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/><text x="%.1f" y="%.1f">%s</text></g>`+"\n",
			x1+20, ly, x1+44, ly, col, dash, x1+50, ly+4, esc(name+" ("+rs[0].Family+")"))
	}
	return int(bottom) + 24
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func trimFloat(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}

// esc escapes text for XML.
func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

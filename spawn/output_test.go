//go:build linux

package spawn_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shmkit/spawn"
)

// childPrint prints lines to stdout and stderr: a short one, a 100 000-byte
// one, and a last one without a newline.
var childPrint = spawn.Register("TestOutput", func(ctx context.Context, c *spawn.Child) error {
	fmt.Println("hello")
	fmt.Fprintln(os.Stderr, "on stderr")
	fmt.Println(strings.Repeat("x", 100_000))
	fmt.Print("unterminated")
	return nil
})

func TestOutputPrefixed(t *testing.T) {
	var out, errOut bytes.Buffer
	p, err := childPrint.Start(context.Background(), spawn.Options{Stdout: &out, Stderr: &errOut, OutputPrefix: "%n/%p %%: "})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("TestOutput/%d %%: ", p.Pid())
	// The long line is cut at 64 KiB, each piece prefixed.
	want := prefix + "hello\n" +
		prefix + strings.Repeat("x", 64<<10) + "\n" +
		prefix + strings.Repeat("x", 100_000-64<<10) + "\n" +
		prefix + "unterminated\n"
	if got := out.String(); got != want {
		t.Errorf("stdout: got %d bytes, want %d\n(first 200: %q)", len(got), len(want), got[:min(200, len(got))])
	}
	if got := errOut.String(); got != prefix+"on stderr\n" {
		t.Errorf("stderr %q", got)
	}
}

func TestOutputRaw(t *testing.T) {
	var out bytes.Buffer
	p, err := childPrint.Start(context.Background(), spawn.Options{Stdout: &out, Stderr: &bytes.Buffer{}, RawOutput: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if want := "hello\n" + strings.Repeat("x", 100_000) + "\nunterminated"; out.String() != want {
		t.Errorf("raw stdout differs: %d bytes, want %d", out.Len(), len(want))
	}
}

// lockedBuffer is an io.Writer for several forwarders at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

var childChatter = spawn.Register("TestOutputInterleaving", func(ctx context.Context, c *spawn.Child) error {
	for i := 0; i < 2000; i++ {
		fmt.Printf("%s line %d %s\n", c.Args()[0], i, strings.Repeat(c.Args()[0], 100))
	}
	return nil
})

// Lines of two children printing at once arrive whole.
func TestOutputInterleaving(t *testing.T) {
	var out lockedBuffer
	var ps []*spawn.Process
	for _, who := range []string{"a", "b"} {
		p, err := childChatter.Start(context.Background(), spawn.Options{Stdout: &out, Args: []string{who}, OutputPrefix: "%n: "})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSuffix(out.b.String(), "\n"), "\n")
	if len(lines) != 4000 {
		t.Fatalf("%d lines, want 4000", len(lines))
	}
	next := map[string]int{}
	for _, l := range lines {
		var who string
		var i int
		if _, err := fmt.Sscanf(l, "TestOutputInterleaving: %s line %d", &who, &i); err != nil || l != fmt.Sprintf("TestOutputInterleaving: %s line %d %s", who, i, strings.Repeat(who, 100)) {
			t.Fatalf("mangled line %q", l)
		}
		if i != next[who] {
			t.Fatalf("%s: line %d after %d", who, i, next[who]-1)
		}
		next[who]++
	}
}

// recorder is a slog.Handler that keeps records.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// attrs renders a record's attributes as "k=v" pairs, groups dotted.
func attrs(rec slog.Record) string {
	var parts []string
	var walk func(prefix string, a slog.Attr)
	walk = func(prefix string, a slog.Attr) {
		if a.Value.Kind() == slog.KindGroup {
			for _, g := range a.Value.Group() {
				walk(prefix+a.Key+".", g)
			}
			return
		}
		parts = append(parts, fmt.Sprintf("%s%s=%v(%s)", prefix, a.Key, a.Value, a.Value.Kind()))
	}
	rec.Attrs(func(a slog.Attr) bool { walk("", a); return true })
	return strings.Join(parts, " ")
}

var childLog = spawn.Register("TestLogShipping", func(ctx context.Context, c *spawn.Child) error {
	log := c.Logger()
	log.Debug("dropped: below the parent's level")
	log.Info("plain", "n", 42, "ok", true, "d", 1500*time.Millisecond, "f", 2.5, "u", uint64(7), "s", "text")
	log.With("req", "r1").WithGroup("g").Warn("grouped", "inner", 1)
	spawn.Logger(ctx).Error("from the context", slog.Group("outer", slog.Int("x", 1), slog.Time("at", time.Unix(1000, 0))))
	return nil
})

func TestLogShipping(t *testing.T) {
	rec := &recorder{}
	p, err := childLog.Start(context.Background(), spawn.Options{Logger: slog.New(rec)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	child := fmt.Sprintf("child=TestLogShipping(String) pid=%d(Int64)", p.Pid())
	want := []struct {
		level slog.Level
		msg   string
		attrs string
	}{
		{slog.LevelInfo, "plain", "n=42(Int64) ok=true(Bool) d=1.5s(Duration) f=2.5(Float64) u=7(Uint64) s=text(String) " + child},
		{slog.LevelWarn, "grouped", "req=r1(String) g.inner=1(Int64) " + child},
		{slog.LevelError, "from the context", "outer.x=1(Int64) outer.at=" + time.Unix(1000, 0).String() + "(Time) " + child},
	}
	if len(rec.recs) != len(want) {
		t.Fatalf("%d records arrived, want %d", len(rec.recs), len(want))
	}
	for i, w := range want {
		r := rec.recs[i]
		if r.Level != w.level || r.Message != w.msg || attrs(r) != w.attrs {
			t.Errorf("record %d: %v %q %s\nwant       %v %q %s", i, r.Level, r.Message, attrs(r), w.level, w.msg, w.attrs)
		}
	}
}

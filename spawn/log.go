package spawn

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/shmkit/shmkit/ring"
)

// A child's log records travel to the parent over an SPSC ring, each as a
// JSON document: this is Python's QueueHandler and QueueListener, without a
// queue server.

// wireRecord is a log record on the ring.
type wireRecord struct {
	Time    int64      `json:"t"`
	Level   int        `json:"l"`
	Message string     `json:"m"`
	Attrs   []wireAttr `json:"a,omitempty"`
}

// wireAttr is an attribute: its kind decides which value field is set.
type wireAttr struct {
	Key   string     `json:"k"`
	Kind  int        `json:"y"`
	S     string     `json:"s,omitempty"`
	I     int64      `json:"i,omitempty"`
	U     uint64     `json:"u,omitempty"`
	F     float64    `json:"f,omitempty"`
	B     bool       `json:"b,omitempty"`
	Group []wireAttr `json:"g,omitempty"`
}

func toWire(a slog.Attr) wireAttr {
	v := a.Value.Resolve()
	w := wireAttr{Key: a.Key, Kind: int(v.Kind())}
	switch v.Kind() {
	case slog.KindString:
		w.S = v.String()
	case slog.KindInt64:
		w.I = v.Int64()
	case slog.KindUint64:
		w.U = v.Uint64()
	case slog.KindFloat64:
		w.F = v.Float64()
	case slog.KindBool:
		w.B = v.Bool()
	case slog.KindDuration:
		w.I = int64(v.Duration())
	case slog.KindTime:
		w.I = v.Time().UnixNano()
	case slog.KindGroup:
		for _, g := range v.Group() {
			w.Group = append(w.Group, toWire(g))
		}
	default: // KindAny: its text travels
		w.Kind = int(slog.KindString)
		w.S = v.String()
	}
	return w
}

func fromWire(w wireAttr) slog.Attr {
	switch slog.Kind(w.Kind) {
	case slog.KindInt64:
		return slog.Int64(w.Key, w.I)
	case slog.KindUint64:
		return slog.Uint64(w.Key, w.U)
	case slog.KindFloat64:
		return slog.Float64(w.Key, w.F)
	case slog.KindBool:
		return slog.Bool(w.Key, w.B)
	case slog.KindDuration:
		return slog.Duration(w.Key, time.Duration(w.I))
	case slog.KindTime:
		return slog.Time(w.Key, time.Unix(0, w.I))
	case slog.KindGroup:
		as := make([]any, len(w.Group))
		for i, g := range w.Group {
			as[i] = fromWire(g)
		}
		return slog.Group(w.Key, as...)
	}
	return slog.String(w.Key, w.S)
}

// shipHandler is the child's slog.Handler: it sends records to the parent.
type shipHandler struct {
	out    *shipper
	level  slog.Level
	attrs  []slog.Attr // from WithAttrs, already inside their groups
	groups []string    // open groups, for the record's own attributes
}

// shipper is shared by a handler and its derivatives: one ring, one lock
// (the ring has one producer).
type shipper struct {
	mu sync.Mutex
	r  *ring.SPSC
}

func (h *shipHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *shipHandler) Handle(ctx context.Context, rec slog.Record) error {
	w := wireRecord{Time: rec.Time.UnixNano(), Level: int(rec.Level), Message: rec.Message}
	for _, a := range h.attrs {
		w.Attrs = append(w.Attrs, toWire(a))
	}
	var own []slog.Attr
	rec.Attrs(func(a slog.Attr) bool {
		own = append(own, a)
		return true
	})
	for _, a := range nest(h.groups, own) {
		w.Attrs = append(w.Attrs, toWire(a))
	}
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	if len(b) > h.out.r.MaxMessage() {
		b, _ = json.Marshal(wireRecord{Time: w.Time, Level: w.Level, Message: w.Message + " (attributes dropped: record too large)"})
	}
	return h.out.r.Send(context.Background(), b)
}

// nest wraps attrs in the groups, outermost first.
func nest(groups []string, attrs []slog.Attr) []slog.Attr {
	if len(attrs) == 0 {
		return nil
	}
	for i := len(groups) - 1; i >= 0; i-- {
		as := make([]any, len(attrs))
		for j, a := range attrs {
			as[j] = a
		}
		attrs = []slog.Attr{slog.Group(groups[i], as...)}
	}
	return attrs
}

func (h *shipHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append(append([]slog.Attr(nil), h.attrs...), nest(h.groups, attrs)...)
	return &h2
}

func (h *shipHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.groups = append(append([]string(nil), h.groups...), name)
	return &h2
}

// lowestLevel returns the lowest level h enables, among the standard ones.
func lowestLevel(h slog.Handler) slog.Level {
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		if h.Enabled(context.Background(), l) {
			return l
		}
	}
	return slog.LevelError + 1
}

// pumpLogs receives records from r and hands them to h with the child's
// name and pid, until r is closed and drained.
func pumpLogs(r *ring.SPSC, h slog.Handler, name string, pid int, done chan<- struct{}) {
	defer close(done)
	var buf []byte
	for {
		var err error
		buf, err = r.Recv(context.Background(), buf)
		if err != nil {
			return
		}
		var w wireRecord
		if json.Unmarshal(buf, &w) != nil {
			continue
		}
		rec := slog.NewRecord(time.Unix(0, w.Time), slog.Level(w.Level), w.Message, 0)
		for _, a := range w.Attrs {
			rec.AddAttrs(fromWire(a))
		}
		rec.AddAttrs(slog.String("child", name), slog.Int("pid", pid))
		if h.Enabled(context.Background(), rec.Level) {
			h.Handle(context.Background(), rec)
		}
	}
}

// loggerKey carries a child's logger in its context.
type loggerKey struct{}

// Logger returns the logger of the child process whose function received
// ctx (or a task running in a pool worker): records sent to it reach the
// parent's Options.Logger (PoolOptions.Logger). Outside a child it returns
// slog.Default().
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// Logger returns the child's logger: records reach the parent's
// Options.Logger if it set one, and are written as text to the child's
// standard error otherwise.
func (c *Child) Logger() *slog.Logger { return c.logger }

// stderrLogger is a child's logger when its parent set no Logger.
func stderrLogger() *slog.Logger { return slog.New(slog.NewTextHandler(os.Stderr, nil)) }

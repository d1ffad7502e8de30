package ring

import (
	"context"
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
)

// Messenger is what Queue, SPSC and Conn have in common: a message channel
// between processes.
type Messenger interface {
	Send(ctx context.Context, msg []byte) error
	TrySend(msg []byte) (bool, error)
	Recv(ctx context.Context, dst []byte) ([]byte, error)
	TryRecv(dst []byte) ([]byte, bool, error)
	Close() error
	Len() int
}

var (
	_ Messenger = (*Queue)(nil)
	_ Messenger = (*SPSC)(nil)
	_ Messenger = (*Conn)(nil)
)

// CompressOptions configures Compress. The zero value means the defaults.
type CompressOptions struct {
	// Threshold is the smallest message, in bytes, that is compressed;
	// shorter ones are sent as they are. Zero means 1024.
	Threshold int

	// MaxMessage is the largest message, in bytes, that Send accepts and
	// Recv decompresses; a frame that claims a longer message is
	// ErrCorrupt, so damaged or hostile bytes in the ring cannot make the
	// receiver allocate more. Both ends should use the same value. Zero
	// means DefaultMaxMessage.
	MaxMessage int
}

// DefaultMaxMessage is CompressOptions.MaxMessage's default: 64 MiB.
const DefaultMaxMessage = 64 << 20

// Compress returns a Messenger that sends messages of at least
// opt.Threshold bytes compressed with S2 (github.com/klauspost/compress/s2),
// and decompresses what it receives. Every message gains a one-byte frame
// tag, so both ends must use Compress, and the largest message the wrapped
// Messenger carries is one byte less; a message that does not shrink is
// sent as it is. Send returns ErrTooLarge for a message over
// opt.MaxMessage.
//
// Compression trades CPU for ring space: it pays when messages are large and
// compressible and the ring is sized by memory (or shared by many
// producers), and costs throughput when the ring has room and the CPU is the
// bottleneck. go test -bench Compress ./ring measures both on your machine.
// It is off unless you ask for it.
//
// The Messenger is safe for concurrent use exactly when m is.
func Compress(m Messenger, opt CompressOptions) Messenger {
	if opt.Threshold <= 0 {
		opt.Threshold = 1024
	}
	if opt.MaxMessage <= 0 {
		opt.MaxMessage = DefaultMaxMessage
	}
	return &compressed{m: m, threshold: opt.Threshold, max: opt.MaxMessage}
}

// Frame tags.
const (
	tagRaw = 0
	tagS2  = 1
)

type compressed struct {
	m         Messenger
	threshold int
	max       int // largest message before compression
}

func (c *compressed) tooLarge(msg []byte) error {
	return fmt.Errorf("ring: compress: %w: %d bytes, MaxMessage is %d", ErrTooLarge, len(msg), c.max)
}

var bufPool = sync.Pool{New: func() any { return new([]byte) }}

func (c *compressed) frame(msg []byte) (frame []byte, buf *[]byte) {
	buf = bufPool.Get().(*[]byte)
	b := (*buf)[:0]
	if len(msg) >= c.threshold && compressible(msg) {
		need := 1 + s2.MaxEncodedLen(len(msg))
		if cap(b) < need {
			b = make([]byte, 0, need)
		}
		enc := s2.Encode(b[1:need], msg)
		if len(enc) < len(msg) {
			b = b[:1+len(enc)]
			b[0] = tagS2
			*buf = b
			return b, buf
		}
	}
	b = append(b, tagRaw)
	b = append(b, msg...)
	*buf = b
	return b, buf
}

// compressible guesses whether msg is worth compressing. For a large
// message it estimates the compressed size of a sample (S2's fast
// estimator) and gives up if that would not shrink by an eighth: compressing
// random or already compressed data costs far more than copying it.
func compressible(msg []byte) bool {
	const sample = 8 << 10
	if len(msg) < 4*sample {
		return true
	}
	est := s2.EstimateBlockSize(msg[:sample])
	return est >= 0 && est < sample-sample/8
}

func (c *compressed) Send(ctx context.Context, msg []byte) error {
	if len(msg) > c.max {
		return c.tooLarge(msg)
	}
	f, buf := c.frame(msg)
	err := c.m.Send(ctx, f)
	bufPool.Put(buf)
	return err
}

func (c *compressed) TrySend(msg []byte) (bool, error) {
	if len(msg) > c.max {
		return false, c.tooLarge(msg)
	}
	f, buf := c.frame(msg)
	ok, err := c.m.TrySend(f)
	bufPool.Put(buf)
	return ok, err
}

func (c *compressed) unframe(dst, f []byte) ([]byte, error) {
	if len(f) == 0 {
		return dst[:0], fmt.Errorf("%w: empty frame", errFrame)
	}
	switch f[0] {
	case tagRaw:
		if len(f)-1 > c.max {
			return dst[:0], fmt.Errorf("%w: a %d-byte message, MaxMessage is %d", errFrame, len(f)-1, c.max)
		}
		return append(dst[:0], f[1:]...), nil
	case tagS2:
		n, err := s2.DecodedLen(f[1:])
		if err != nil {
			return dst[:0], fmt.Errorf("%w: %w", errFrame, err)
		}
		if n > c.max {
			// Checked before allocating: the length is the sender's word.
			return dst[:0], fmt.Errorf("%w: claims a %d-byte message, MaxMessage is %d", errFrame, n, c.max)
		}
		if cap(dst) < n {
			dst = make([]byte, n)
		}
		out, err := s2.Decode(dst[:n], f[1:])
		if err != nil {
			return dst[:0], fmt.Errorf("%w: %w", errFrame, err)
		}
		return out, nil
	}
	return dst[:0], fmt.Errorf("%w: unknown tag %d", errFrame, f[0])
}

func (c *compressed) Recv(ctx context.Context, dst []byte) ([]byte, error) {
	buf := bufPool.Get().(*[]byte)
	defer bufPool.Put(buf)
	f, err := c.m.Recv(ctx, (*buf)[:0])
	*buf = f
	if err != nil {
		return dst[:0], err
	}
	return c.unframe(dst, f)
}

func (c *compressed) TryRecv(dst []byte) ([]byte, bool, error) {
	buf := bufPool.Get().(*[]byte)
	defer bufPool.Put(buf)
	f, ok, err := c.m.TryRecv((*buf)[:0])
	*buf = f
	if !ok || err != nil {
		return dst[:0], ok, err
	}
	out, err := c.unframe(dst, f)
	return out, err == nil, err
}

func (c *compressed) Close() error { return c.m.Close() }
func (c *compressed) Len() int     { return c.m.Len() }

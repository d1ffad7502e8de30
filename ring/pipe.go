package ring

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/proc"
	"github.com/shmkit/shmkit/shm"
)

// pipeHeader documents the header of a Pipe object; two SPSC rings follow
// it: ring 0 carries end 0's messages to end 1, ring 1 the other way.
type pipeHeader struct {
	Magic    uint32 // pipeMagic
	_        uint32
	Capacity uint64 // each ring's data bytes
	End0     uint64 // identity of the process holding end 0 (the creator)
	End1     uint64 // identity of the process holding end 1, 0 until opened
	_        [32]byte
}

const (
	pipeMagic      = 0x50495045 // "PIPE"
	offPMagic      = 0
	offPCapacity   = 8
	offPEnd0       = 16
	offPEnd1       = 24
	pipeHeaderSize = 64
)

// Conn is one end of a duplex pipe between two processes: a pair of SPSC
// rings, one each way. Like Python's multiprocessing.Pipe, each end sends
// and receives whole messages; Read and Write also let it carry a byte
// stream. One goroutine may send while another receives; sends (and
// receives) must not be concurrent with each other.
type Conn struct {
	_ layout.NoCopy

	end      int
	out, in  *SPSC
	peerWord *uint64 // the other end's identity

	// Read's state: the unread rest of a peeked message.
	rmsg []byte
}

// NewPipe creates a pipe called name in seg, whose rings each hold at least
// capacityBytes bytes, and returns end 0. Another process (or this one)
// gets end 1 with OpenPipe.
func NewPipe(seg *shm.Segment, name string, capacityBytes int) (*Conn, error) {
	c, err := roundCapacity(capacityBytes)
	if err != nil {
		return nil, &shm.Error{Op: "new pipe", Segment: seg.Name(), Object: name, Offset: -1, Err: err}
	}
	ringSize := uint64(spscSize(c))
	mem, err := seg.Alloc(name, shm.KindPipe, pipeHeaderSize+2*int(ringSize), 0, func(mem []byte) error {
		atomic.StoreUint64(layout.U64(mem, offPCapacity), c)
		atomic.StoreUint64(layout.U64(mem, offPEnd0), uint64(proc.Self()))
		initSPSC(mem[pipeHeaderSize:], c)
		initSPSC(mem[pipeHeaderSize+ringSize:], c)
		atomic.StoreUint32(layout.U32(mem, offPMagic), pipeMagic)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return attachPipe(mem, seg.Name(), name, 0, "new pipe")
}

// OpenPipe returns end 1 of the pipe called name in seg. Only one process at
// a time holds end 1: while it lives, OpenPipe in any other process (or
// again in that one) returns ErrBusy; once it has died, the next OpenPipe
// takes its place.
func OpenPipe(seg *shm.Segment, name string) (*Conn, error) {
	mem, err := seg.Lookup(name, shm.KindPipe)
	if err != nil {
		return nil, err
	}
	c, err := attachPipe(mem, seg.Name(), name, 1, "open pipe")
	if err != nil {
		return nil, err
	}
	self := uint64(proc.Self())
	for {
		cur := atomic.LoadUint64(layout.U64(mem, offPEnd1))
		if cur != 0 && proc.Alive(proc.Identity(cur)) {
			return nil, &shm.Error{Op: "open pipe", Segment: seg.Name(), Object: name, Offset: -1,
				Err: fmt.Errorf("%w: process %d holds end 1", ErrBusy, proc.Identity(cur).Pid())}
		}
		if atomic.CompareAndSwapUint64(layout.U64(mem, offPEnd1), cur, self) {
			return c, nil
		}
	}
}

func attachPipe(mem []byte, seg, name string, end int, op string) (*Conn, error) {
	fail := func(field string, off int64, format string, args ...any) (*Conn, error) {
		return nil, &shm.Error{Op: op, Segment: seg, Object: name, Field: field, Offset: off,
			Err: fmt.Errorf("%w: "+format, append([]any{shm.ErrCorrupt}, args...)...)}
	}
	if len(mem) < pipeHeaderSize {
		return fail("", -1, "object is %d bytes, too small for a pipe", len(mem))
	}
	if m := atomic.LoadUint32(layout.U32(mem, offPMagic)); m != pipeMagic {
		return fail("magic", offPMagic, "%#x is not a pipe", m)
	}
	c := atomic.LoadUint64(layout.U64(mem, offPCapacity))
	if c < MinCapacity || c > MaxCapacity || c&(c-1) != 0 || uint64(len(mem)) < pipeHeaderSize+2*uint64(spscSize(c)) {
		return fail("capacity", offPCapacity, "capacity %d in an object of %d bytes", c, len(mem))
	}
	ringSize := uint64(spscSize(c))
	rings := [2]*SPSC{}
	for i := range rings {
		r, err := attachSPSC(mem[pipeHeaderSize+uint64(i)*ringSize:pipeHeaderSize+uint64(i+1)*ringSize], seg, fmt.Sprintf("%s/ring%d", name, i), op)
		if err != nil {
			return nil, err
		}
		rings[i] = r
	}
	conn := &Conn{end: end, out: rings[end], in: rings[1-end]}
	conn.peerWord = layout.U64(mem, offPEnd0+8*(1-end))
	// A wait for the other end watches the process holding that end, from
	// the moment it is opened, not from its first message.
	conn.out.peerForSpace = conn.peerWord
	conn.in.peerForData = conn.peerWord
	return conn, nil
}

// End returns 0 for the end NewPipe returned and 1 for the end OpenPipe
// returned.
func (c *Conn) End() int { return c.end }

// Cap returns the size of each direction's ring in bytes.
func (c *Conn) Cap() int { return c.out.Cap() }

// MaxMessage returns the largest message a Send can carry.
func (c *Conn) MaxMessage() int { return c.out.MaxMessage() }

// SetBusyWait makes this end's blocking calls spin instead of sleeping; see
// SPSC.SetBusyWait.
func (c *Conn) SetBusyWait(on bool) {
	c.out.SetBusyWait(on)
	c.in.SetBusyWait(on)
}

// Send sends msg to the other end, waiting for space. It returns ErrTooLarge
// at once if msg exceeds MaxMessage, ErrClosed if either end has closed the
// pipe, ErrPeerDied if the other end's process died while Send waited, or
// ctx.Err().
func (c *Conn) Send(ctx context.Context, msg []byte) error { return c.out.Send(ctx, msg) }

// TrySend sends msg if there is space now, and reports whether it did.
func (c *Conn) TrySend(msg []byte) (bool, error) { return c.out.TrySend(msg) }

// Recv waits for the next message from the other end and appends it to
// dst[:0]. Once the other end has closed the pipe and every message it sent
// has been received, Recv returns io.EOF; if the other end's process died,
// it returns, after the messages it sent, an error matching both io.EOF and
// ErrPeerDied. Otherwise: ErrCorrupt or ctx.Err().
func (c *Conn) Recv(ctx context.Context, dst []byte) ([]byte, error) {
	if err := c.dropPartial(); err != nil {
		return dst[:0], err
	}
	m, err := c.in.peek(ctx, "recv", false, true)
	if err != nil {
		return dst[:0], err
	}
	dst = append(dst[:0], m...)
	return dst, c.in.Release()
}

// TryRecv receives the next message if there is one now, appending it to
// dst[:0], and reports whether it did.
func (c *Conn) TryRecv(dst []byte) ([]byte, bool, error) {
	if err := c.dropPartial(); err != nil {
		return dst[:0], false, err
	}
	m, err := c.in.peek(context.Background(), "recv", true, true)
	if err != nil || !c.in.c.peeked {
		return dst[:0], false, err
	}
	dst = append(dst[:0], m...)
	return dst, true, c.in.Release()
}

// dropPartial releases a message that Read left partly read, so that
// message-wise receiving goes on with the next whole message.
func (c *Conn) dropPartial() error {
	if c.rmsg == nil {
		return nil
	}
	c.rmsg = nil
	return c.in.Release()
}

// Len returns the number of messages waiting for this end to receive.
func (c *Conn) Len() int { return c.in.Len() }

// Close closes the pipe in both directions: the other end receives what was
// sent before, then io.EOF, and its sends fail with ErrClosed. Closing twice
// is harmless.
func (c *Conn) Close() error {
	c.out.Close()
	c.in.Close()
	return nil
}

// CloseWrite closes this end for sending only, like a TCP half-close: the
// other end receives what was sent, then io.EOF, and may still answer.
func (c *Conn) CloseWrite() error {
	return c.out.Close()
}

// Write sends p as one message, or as several of at most MaxMessage bytes,
// for use as an io.Writer. It returns the number of bytes sent.
func (c *Conn) Write(p []byte) (int, error) {
	n := 0
	for {
		chunk := p[n:min(len(p), n+c.MaxMessage())]
		if err := c.out.Send(context.Background(), chunk); err != nil {
			return n, err
		}
		n += len(chunk)
		if n == len(p) {
			return n, nil
		}
	}
}

// Read reads bytes from the messages the other end sent, as a stream: a
// message longer than p is returned over several Reads, and several short
// messages are never merged into one Read. It returns io.EOF at the end of
// the stream, as Recv does.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for c.rmsg == nil {
		m, err := c.in.peek(context.Background(), "read", false, true)
		if err != nil {
			return 0, err
		}
		if len(m) == 0 {
			c.in.Release() // an empty message carries no bytes
			continue
		}
		c.rmsg = m
	}
	n := copy(p, c.rmsg)
	c.rmsg = c.rmsg[n:]
	if len(c.rmsg) == 0 {
		c.rmsg = nil
		return n, c.in.Release()
	}
	return n, nil
}

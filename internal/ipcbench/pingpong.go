package ipcbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/futex"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

// Pinger is the measuring side of a round-trip (ping-pong) benchmark: each
// Ping sends one message to a peer and waits for its answer.
type Pinger interface {
	Ping() error
	// Close stops the peer and waits for it.
	Close() error
}

// Warmup is the number of round trips made before measuring.
const Warmup = 1000

// RoundTrip measures b.N round trips through p, after Warmup unmeasured ones,
// and reports ns/roundtrip (the mean), p50-ns and p99-ns. Each sample is the
// time between consecutive timestamps, so the timing costs one clock read per
// round trip.
func RoundTrip(b *testing.B, p Pinger) *Histogram {
	b.Helper()
	for i := 0; i < Warmup; i++ {
		if err := p.Ping(); err != nil {
			b.Fatal(err)
		}
	}
	h := new(Histogram)
	b.ReportAllocs()
	b.ResetTimer()
	prev := time.Now()
	for i := 0; i < b.N; i++ {
		if err := p.Ping(); err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		h.Record(int64(now.Sub(prev)))
		prev = now
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/roundtrip")
	b.ReportMetric(float64(h.Quantile(0.5)), "p50-ns")
	b.ReportMetric(float64(h.Quantile(0.99)), "p99-ns")
	return h
}

// Baseline names, as used in benchmark names (mech=...).
const (
	Atomic = "atomic" // two processes busy-polling one shared word: the floor for spinning
	Futex  = "futex"  // two processes sleeping on one shared futex word: the floor for blocking
	OSPipe = "ospipe" // os.Pipe pair between two processes
	Unix   = "unix"   // unix stream socketpair between two processes
	Chan   = "chan"   // unbuffered Go channels between two goroutines of one process
)

// Baselines lists the round-trip baselines in the order benchmarks run them.
var Baselines = []string{Atomic, Futex, OSPipe, Unix, Chan}

// StartBaseline starts the peer of a baseline round trip carrying size-byte
// messages (the atomic and futex baselines carry a turn number, not bytes).
func StartBaseline(name string, size int) (Pinger, error) {
	switch name {
	case Atomic, Futex:
		return startWord(name == Futex)
	case OSPipe:
		return startPipe(size)
	case Unix:
		return startUnix(size)
	case Chan:
		return startChan(size), nil
	}
	return nil, fmt.Errorf("ipcbench: no baseline %q", name)
}

// RunBaselines adds one sub-benchmark per baseline to b, named mech=NAME.
func RunBaselines(b *testing.B, size int) {
	for _, name := range Baselines {
		b.Run("mech="+name, func(b *testing.B) {
			p, err := StartBaseline(name, size)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			RoundTrip(b, p)
		})
	}
}

// ---- shared word: atomic busy-poll and futex ----

// wordPinger alternates a turn counter in shared memory: odd is the child's
// turn, even the parent's; ^0 tells the child to stop.
type wordPinger struct {
	seg   *shm.Segment
	turn  *uint32
	v     uint32
	futex bool
	p     *spawn.Process
}

const stopTurn = ^uint32(0)

var wordPong = spawn.Register("benchWordPong", func(ctx context.Context, c *spawn.Child) error {
	b, err := shm.OpenBytes(c.Segments()[0], "turn")
	if err != nil {
		return err
	}
	turn := (*uint32)(unsafe.Pointer(&b[0]))
	sleep := c.Args()[0] == "futex"
	for {
		v := atomic.LoadUint32(turn)
		if v == stopTurn {
			return nil
		}
		if v%2 == 0 {
			if sleep {
				futex.Wait(turn, v, time.Time{})
			}
			continue
		}
		atomic.StoreUint32(turn, v+1)
		if sleep {
			futex.Wake(turn, 1)
		}
	}
})

func startWord(sleep bool) (Pinger, error) {
	seg, err := shm.CreateAnon(1 << 16)
	if err != nil {
		return nil, err
	}
	b, err := shm.NewBytes(seg, "turn", 64)
	if err != nil {
		seg.Close()
		return nil, err
	}
	arg := "atomic"
	if sleep {
		arg = "futex"
	}
	p, err := wordPong.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}, Args: []string{arg}})
	if err != nil {
		seg.Close()
		return nil, err
	}
	return &wordPinger{seg: seg, turn: (*uint32)(unsafe.Pointer(&b[0])), futex: sleep, p: p}, nil
}

func (w *wordPinger) Ping() error {
	w.v++
	atomic.StoreUint32(w.turn, w.v) // odd: the child's turn
	if w.futex {
		futex.Wake(w.turn, 1)
	}
	for {
		cur := atomic.LoadUint32(w.turn)
		if cur != w.v {
			w.v = cur
			return nil
		}
		if w.futex {
			futex.Wait(w.turn, cur, time.Time{})
		}
	}
}

func (w *wordPinger) Close() error {
	atomic.StoreUint32(w.turn, stopTurn)
	futex.Wake(w.turn, 1)
	err := w.p.Wait()
	w.seg.Close()
	return err
}

// ---- byte streams: os.Pipe and unix sockets ----

type streamPinger struct {
	w       io.Writer
	r       io.Reader
	closers []io.Closer
	buf     []byte
	p       *spawn.Process
}

// streamPong echoes messages of args[0] bytes from file 0 to file 1 until
// EOF.
var streamPong = spawn.Register("benchStreamPong", func(ctx context.Context, c *spawn.Child) error {
	var size int
	fmt.Sscan(c.Args()[0], &size)
	files := c.Files()
	r, w := files[0], files[len(files)-1]
	buf := make([]byte, size)
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
})

func startPipe(size int) (Pinger, error) {
	toR, toW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	fromR, fromW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p, err := streamPong.Start(context.Background(), spawn.Options{
		Files: []*os.File{toR, fromW}, Args: []string{fmt.Sprint(size)},
	})
	toR.Close()
	fromW.Close()
	if err != nil {
		toW.Close()
		fromR.Close()
		return nil, err
	}
	return &streamPinger{w: toW, r: fromR, closers: []io.Closer{toW, fromR}, buf: make([]byte, size), p: p}, nil
}

// SocketPair returns the two ends of a connected unix socket pair of type
// typ (syscall.SOCK_STREAM or syscall.SOCK_SEQPACKET) as files.
func SocketPair(typ int) (*os.File, *os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, typ|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	return os.NewFile(uintptr(fds[0]), "sock0"), os.NewFile(uintptr(fds[1]), "sock1"), nil
}

func startUnix(size int) (Pinger, error) {
	mine, theirs, err := SocketPair(syscall.SOCK_STREAM)
	if err != nil {
		return nil, err
	}
	p, err := streamPong.Start(context.Background(), spawn.Options{
		Files: []*os.File{theirs}, Args: []string{fmt.Sprint(size)},
	})
	theirs.Close()
	if err != nil {
		mine.Close()
		return nil, err
	}
	return &streamPinger{w: mine, r: mine, closers: []io.Closer{mine}, buf: make([]byte, size), p: p}, nil
}

func (s *streamPinger) Ping() error {
	if _, err := s.w.Write(s.buf); err != nil {
		return err
	}
	_, err := io.ReadFull(s.r, s.buf)
	return err
}

func (s *streamPinger) Close() error {
	for _, c := range s.closers {
		c.Close()
	}
	return s.p.Wait()
}

// ---- Go channels, one process ----

type chanPinger struct {
	to, from chan []byte
	buf      []byte
	done     chan struct{}
}

func startChan(size int) Pinger {
	c := &chanPinger{to: make(chan []byte), from: make(chan []byte), buf: make([]byte, size), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for m := range c.to {
			c.from <- m
		}
	}()
	return c
}

func (c *chanPinger) Ping() error {
	c.to <- c.buf
	c.buf = <-c.from
	return nil
}

func (c *chanPinger) Close() error {
	close(c.to)
	<-c.done
	return nil
}

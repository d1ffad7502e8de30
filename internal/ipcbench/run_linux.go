package ipcbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/futex"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

// end is one side's handle on a mechanism. Side A's end belongs to the
// measuring goroutine, side B's to the peer.
type end interface {
	// send sends msg (len(msg) is the message size, 0 for a signal).
	send(msg []byte) error
	// recv waits for the next message and returns it: in buf for a copying
	// mechanism, in place for a zero-copy one, valid until done. At the end
	// of the run it returns an error matching io.EOF.
	recv(buf []byte) ([]byte, error)
	// done frees the message recv returned (a no-op unless zero-copy).
	done()
	// close ends side A's use: a peer blocked in recv gets io.EOF.
	close() error
}

// batcher is an end that sends and receives many messages at once.
type batcher interface {
	sendN(msg []byte, n int) error
	recvN(max int) (int, error)
}

// impl is how a mechanism is built.
type impl struct {
	// shm is the shared memory its objects need for size-byte messages.
	shm func(size int) int
	// setup creates its objects (in the parent, before any peer starts).
	setup func(e *env) error
	// open returns side's end: sideA in the parent (and in the consumer
	// processes of an N→N stream), sideB in the peers.
	open func(e *env, side int) (end, error)
}

const (
	sideA = 0
	sideB = 1
)

// env is what a mechanism's ends are built from.
type env struct {
	seg  *shm.Segment
	size int
	ctl  *control
	m    Mech
	// aFiles are side A's descriptors (the parent keeps them), bFiles side
	// B's (handed to the peer process, and what a peer process received).
	aFiles, bFiles []*os.File
	// local is what an in-process mechanism's two goroutines share.
	local any
}

// control is the block at the start of every run's segment: the round
// protocol of streams and the stop flag of the signal mechanisms.
type control struct {
	round    uint32 // futex: side A adds 1 to start a stream round; quitRound ends the peers
	_        [60]byte
	count    int64 // messages each producer sends this round
	finished uint32
	_        [52]byte
	done     uint32 // futex: peers add 1 when their part of a round is done
	_        [4]byte
	received int64 // messages the consumer processes received this round
	_        [48]byte
	stop     uint32 // the signal mechanisms' end of run
	ready    uint32 // futex: the mutex peer holds its mutex
	_        [56]byte
}

const quitRound = ^uint32(0)

var errStopped = fmt.Errorf("ipcbench: stopped: %w", io.EOF)

// stopped reports whether err is how a run's end reaches a side.
func stopped(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, ring.ErrClosed)
}

// ringBytes is the buffer every mechanism gets for size-byte messages: at
// least 1 MiB, and room for four messages, a power of two.
func ringBytes(size int) int {
	n := 1 << 20
	for n < 4*size {
		n *= 2
	}
	return n
}

// Options place the sides of a run.
type Options struct {
	// CPUs pins each side's thread to a CPU: side A (the measuring side) on
	// CPUs[0], side B on CPUs[1 % len(CPUs)], further processes of an N→N
	// stream on the CPUs in turn. One CPU puts both sides on it. Empty: no
	// pinning. A Go channel's two goroutines cannot be placed one by one, so
	// for it the whole process is restricted to the CPUs of the two sides.
	CPUs []int
}

func (o Options) cpu(i int) int {
	if len(o.CPUs) == 0 {
		return -1
	}
	return o.CPUs[i%len(o.CPUs)]
}

// run is one started mechanism: its segment, side A's end and its peers.
type run struct {
	m       Mech
	pattern Pattern
	e       *env
	a       end
	opt     Options
	procs   []*spawn.Process
	wg      sync.WaitGroup // in-process peers
	errs    chan error     // in-process peers' outcomes
	closing atomic.Bool
	unpin   func()
	msg     []byte
	buf     []byte
}

// PeerDied is called when a peer process exits before its run is closed:
// side A could otherwise wait for it forever. The default prints err and
// exits the program with status 2.
var PeerDied = func(err error) {
	fmt.Fprintf(os.Stderr, "ipcbench: peer died during a run: %v\n", err)
	os.Exit(2)
}

// start builds mechanism m for pattern p and size-byte messages and starts
// its peers.
func start(m Mech, p Pattern, size int, opt Options) (_ *run, err error) {
	if m.impl == nil {
		return nil, fmt.Errorf("ipcbench: no mechanism %q", m.Name)
	}
	if !m.Supports(p, size) {
		return nil, fmt.Errorf("ipcbench: %s does not support %s with %d-byte messages", m.Name, p, size)
	}
	need := m.impl.shm(size)
	seg, err := shm.CreateAnon(int64(1<<16 + need + need/8)) // and the directory
	if err != nil {
		return nil, err
	}
	b, err := shm.NewBytes(seg, "ctl", int(unsafe.Sizeof(control{})))
	if err != nil {
		seg.Close()
		return nil, err
	}
	r := &run{m: m, pattern: p, opt: opt, errs: make(chan error, 64),
		e:   &env{seg: seg, size: size, ctl: (*control)(unsafe.Pointer(&b[0])), m: m},
		msg: make([]byte, size), buf: make([]byte, size)}
	for i := range r.msg {
		r.msg[i] = byte(i*7 + 1)
	}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if err := m.impl.setup(r.e); err != nil {
		return r, err
	}
	// Side B: the echo, or the producers; side A's helpers: the other
	// consumers of an N→N stream.
	type peer struct {
		role string
		side int
	}
	var peers []peer
	if p == PatternRoundTrip {
		peers = append(peers, peer{"echo", sideB})
	} else {
		for i := 0; i < m.Producers; i++ {
			peers = append(peers, peer{"producer", sideB})
		}
		for i := 1; i < m.Consumers; i++ {
			peers = append(peers, peer{"consumer", sideA})
		}
	}
	if m.InProcess && len(opt.CPUs) > 0 {
		if r.unpin, err = pinProcess([]int{opt.cpu(0), opt.cpu(1)}); err != nil {
			return r, err
		}
	}
	for i, pe := range peers {
		// CPUs: side A is 0; producers 1, 3, 5…; other consumers 2, 4…
		cpu := -1
		if !m.InProcess {
			if pe.role == "consumer" {
				cpu = opt.cpu(2 * (i - m.Producers + 1))
			} else {
				cpu = opt.cpu(2*i + 1)
			}
		}
		if m.InProcess {
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				r.errs <- runPeer(r.e, pe.role, pe.side, cpu)
			}()
			continue
		}
		o := spawn.Options{
			Segments: []*shm.Segment{seg},
			Args:     []string{m.Name, pe.role, strconv.Itoa(size), strconv.Itoa(cpu), strconv.Itoa(pe.side)},
			Env:      peerEnv,
		}
		if pe.side == sideB {
			o.Files = r.e.bFiles
		}
		proc, err := benchPeer.Start(context.Background(), o)
		if err != nil {
			return r, err
		}
		r.procs = append(r.procs, proc)
		go func() {
			<-proc.Done()
			if !r.closing.Load() {
				err := proc.Wait()
				if err == nil {
					err = errors.New("exited early")
				}
				PeerDied(fmt.Errorf("%s %s: %w", m.Name, pe.role, err))
			}
		}()
	}
	for _, f := range r.e.bFiles {
		f.Close() // the peer holds its copies
	}
	r.e.bFiles = nil
	r.a, err = m.impl.open(r.e, sideA)
	return r, err
}

// Close stops the peers and waits for them, and releases the run's
// resources. It returns the first error a peer reported.
func (r *run) Close() error {
	r.closing.Store(true)
	c := r.e.ctl
	atomic.StoreUint32(&c.round, quitRound) // peers waiting for a round
	futex.WakeAll(&c.round)
	var first error
	if r.a != nil {
		first = r.a.close() // peers waiting for a message
	} else {
		for _, p := range r.procs {
			p.Kill() // the run never started: nothing will tell them to stop
		}
	}
	for _, p := range r.procs {
		if err := p.Wait(); err != nil && first == nil {
			first = err
		}
	}
	r.wg.Wait()
	close(r.errs)
	for err := range r.errs {
		if err != nil && first == nil {
			first = err
		}
	}
	for _, f := range append(r.e.aFiles, r.e.bFiles...) {
		f.Close()
	}
	if r.unpin != nil {
		r.unpin()
	}
	r.e.seg.Close()
	return first
}

// peerEnv is added to the peers' environment: built with the race
// detector, a process sleeps a second before it exits unless told not to.
var peerEnv = func() []string {
	if os.Getenv("GORACE") == "" {
		return []string{"GORACE=atexit_sleep_ms=0"}
	}
	return nil
}()

// benchPeer runs side B of a run (or a consumer of side A) in a process of
// its own. Args: mechanism, role, message size, CPU (-1: none), side.
var benchPeer = spawn.Register("benchPeer", func(ctx context.Context, c *spawn.Child) error {
	a := c.Args()
	if len(a) != 5 {
		return fmt.Errorf("ipcbench peer: %d arguments", len(a))
	}
	m, ok := Lookup(a[0])
	if !ok {
		return fmt.Errorf("ipcbench peer: no mechanism %q", a[0])
	}
	size, err1 := strconv.Atoi(a[2])
	cpu, err2 := strconv.Atoi(a[3])
	side, err3 := strconv.Atoi(a[4])
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	seg := c.Segments()[0]
	b, err := shm.OpenBytes(seg, "ctl")
	if err != nil {
		return err
	}
	e := &env{seg: seg, size: size, ctl: (*control)(unsafe.Pointer(&b[0])), m: m, bFiles: c.Files()}
	return runPeer(e, a[1], side, cpu)
})

// runPeer opens side's end and plays role until the run ends.
func runPeer(e *env, role string, side, cpu int) error {
	if cpu >= 0 {
		undo, err := PinThread(cpu)
		if err != nil {
			return err
		}
		defer undo()
	}
	x, err := e.m.impl.open(e, side)
	if err != nil {
		return err
	}
	buf := make([]byte, e.size)
	switch role {
	case "echo":
		for {
			m, err := x.recv(buf)
			if err != nil {
				if stopped(err) {
					return nil
				}
				return err
			}
			if err := x.send(m); err != nil {
				return err
			}
			x.done()
		}
	case "producer", "consumer":
		msg := make([]byte, e.size)
		for i := range msg {
			msg[i] = byte(i*7 + 1)
		}
		c := e.ctl
		seen := uint32(0)
		for {
			r := atomic.LoadUint32(&c.round)
			if r == seen {
				futex.Wait(&c.round, r, time.Time{})
				continue
			}
			if r == quitRound {
				return nil
			}
			seen = r
			if role == "producer" {
				n := int(atomic.LoadInt64(&c.count))
				if err := sendN(x, msg, n); err != nil {
					return err
				}
				// The last producer to finish sends one empty message per
				// consumer: each consumer stops at the first it receives, and
				// all of them come after every message of the round.
				if e.m.Consumers > 1 && atomic.AddUint32(&c.finished, 1) == uint32(e.m.Producers) {
					for i := 0; i < e.m.Consumers; i++ {
						if err := x.send(msg[:0]); err != nil {
							return err
						}
					}
				}
			} else {
				got, err := recvMarked(x, buf)
				if err != nil {
					return err
				}
				atomic.AddInt64(&c.received, int64(got))
			}
			atomic.AddUint32(&c.done, 1)
			futex.Wake(&c.done, 1)
		}
	}
	return fmt.Errorf("ipcbench: no role %q", role)
}

// sendN sends n copies of msg.
func sendN(x end, msg []byte, n int) error {
	if b, ok := x.(batcher); ok {
		return b.sendN(msg, n)
	}
	for i := 0; i < n; i++ {
		if err := x.send(msg); err != nil {
			return err
		}
	}
	return nil
}

// recvN receives n messages.
func recvN(x end, buf []byte, n int) error {
	if b, ok := x.(batcher); ok {
		for n > 0 {
			k, err := b.recvN(n)
			if err != nil {
				return err
			}
			n -= k
		}
		return nil
	}
	for i := 0; i < n; i++ {
		if _, err := x.recv(buf); err != nil {
			return err
		}
		x.done()
	}
	return nil
}

// recvMarked receives messages up to an empty one and returns how many
// came before it.
func recvMarked(x end, buf []byte) (int, error) {
	for got := 0; ; got++ {
		m, err := x.recv(buf)
		if err != nil {
			return got, err
		}
		empty := len(m) == 0
		x.done()
		if empty {
			return got, nil
		}
	}
}

// ---- round trips ----

// Pinger is the measuring side of a round-trip (ping-pong) measurement: each
// Ping sends one message to a peer and waits for its answer.
type Pinger interface {
	Ping() error
	// Close stops the peer and waits for it.
	Close() error
}

type pinger struct{ *run }

// StartRoundTrip starts mechanism m's peer for round trips of size-byte
// messages; the caller's goroutine is side A. [Measure] and [Bench] pin side
// A for opt.CPUs; a caller of StartRoundTrip pins its own thread to
// opt.CPUs[0] with [PinThread], unless the mechanism runs in process.
func StartRoundTrip(m Mech, size int, opt Options) (Pinger, error) {
	r, err := start(m, PatternRoundTrip, size, opt)
	if err != nil {
		return nil, err
	}
	return pinger{r}, nil
}

// Ping sends one message and waits for the echo.
func (p pinger) Ping() error {
	if err := p.a.send(p.msg); err != nil {
		return err
	}
	if _, err := p.a.recv(p.buf); err != nil {
		return err
	}
	p.a.done()
	return nil
}

// Warmup is the most round trips made before measuring.
const Warmup = 1000

// WarmUp makes round trips through p until Warmup of them or d have passed,
// whichever is first (at least one).
func WarmUp(p Pinger, d time.Duration) error {
	t0 := time.Now()
	for i := 0; i < Warmup; i++ {
		if err := p.Ping(); err != nil {
			return err
		}
		if time.Since(t0) >= d {
			break
		}
	}
	return nil
}

// MeasureRoundTrips makes round trips through p, recording the duration of
// each in h: n of them if n > 0, else as many as fit in d (at least one).
// Each sample is the time between consecutive reads of the monotonic clock,
// one read per round trip. It returns the round trips made and their total
// time.
func MeasureRoundTrips(p Pinger, h *Histogram, n int, d time.Duration) (int, time.Duration, error) {
	t0 := time.Now()
	prev := time.Duration(0)
	for i := 1; ; i++ {
		if err := p.Ping(); err != nil {
			return i - 1, prev, err
		}
		now := time.Since(t0) // monotonic: one clock read
		h.Record(int64(now - prev))
		prev = now
		if (n > 0 && i >= n) || (n <= 0 && now >= d) {
			return i, now, nil
		}
	}
}

// ---- streams ----

// Streamer is the receiving side of a stream measurement.
type Streamer interface {
	// Stream has the producers send about n messages in all (n rounded up to
	// a multiple of the producers) and returns, with how many were sent, once
	// every one has been received.
	Stream(n int) (int, error)
	// Close stops the producers and waits for them.
	Close() error
}

type streamer struct{ *run }

// StartStream starts mechanism m's producers (and the other consumers of an
// N→N stream) for a stream of size-byte messages; the caller's goroutine is
// the consumer, side A, to be pinned as for [StartRoundTrip].
func StartStream(m Mech, size int, opt Options) (Streamer, error) {
	r, err := start(m, PatternStream, size, opt)
	if err != nil {
		return nil, err
	}
	return streamer{r}, nil
}

// Stream runs one round.
func (s streamer) Stream(n int) (int, error) {
	c := s.e.ctl
	prods, cons := s.m.Producers, s.m.Consumers
	per := max(1, (n+prods-1)/prods)
	total := per * prods
	atomic.StoreInt64(&c.count, int64(per))
	atomic.StoreUint32(&c.finished, 0)
	atomic.StoreUint32(&c.done, 0)
	atomic.StoreInt64(&c.received, 0)
	atomic.AddUint32(&c.round, 1) // go
	futex.WakeAll(&c.round)
	got := total
	if cons == 1 {
		if err := recvN(s.a, s.buf, total); err != nil {
			return 0, err
		}
	} else {
		k, err := recvMarked(s.a, s.buf)
		if err != nil {
			return 0, err
		}
		got = k
	}
	want := uint32(prods + cons - 1)
	for {
		d := atomic.LoadUint32(&c.done)
		if d == want {
			break
		}
		futex.Wait(&c.done, d, time.Time{})
	}
	got += int(atomic.LoadInt64(&c.received))
	if got != total {
		return got, fmt.Errorf("ipcbench: %s: %d messages received, %d sent", s.m.Name, got, total)
	}
	return total, nil
}

// MeasureStream runs one stream round of about n messages and returns how
// many were moved and the time from the go signal to the last one received.
func MeasureStream(s Streamer, n int) (int, time.Duration, error) {
	t0 := time.Now()
	k, err := s.Stream(n)
	return k, time.Since(t0), err
}

// Calibrate warms s up with rounds that grow fourfold, from a few messages
// up to one that takes d/10 or until d/4 has passed, and returns the
// number of messages a round of d should move. The first round only warms
// up: it pays what happens once (page faults in fresh buffers, a ring's
// role claims), which could take longer than d/10 and would leave the
// measured rounds so short that the go signal's wake-up dominated them.
func Calibrate(s Streamer, size int, d time.Duration) (int, error) {
	k := max(1, min(64, (1<<20)/max(size, 1)))
	if _, _, err := MeasureStream(s, k); err != nil {
		return 0, err
	}
	var spent time.Duration
	for {
		n, t, err := MeasureStream(s, k)
		if err != nil {
			return 0, err
		}
		spent += t
		if t >= d/10 || spent >= d/4 {
			rate := float64(n) / max(t.Seconds(), 1e-9)
			return max(1, int(rate*d.Seconds())), nil
		}
		k *= 4
	}
}

//go:build linux

package ring_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/futex"
	"github.com/shmkit/shmkit/internal/ipcbench"
	"github.com/shmkit/shmkit/internal/spin"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

// Benchmarks compare every shmkit mechanism with baselines measured in the
// same run. Compare two commits with
//
//	go test -run '^$' -bench . -count 10 ./ring > new.txt
//	benchstat old.txt new.txt

// ---- round trips ----

// spscPinger sends 64 bytes on ring "ab" and waits for the echo on "ba",
// zero-copy on both sides.
type spscPinger struct {
	ab, ba *ring.SPSC
	size   int
	p      *spawn.Process
}

var benchSPSCEcho = spawn.Register("benchSPSCEcho", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	ab, err := ring.OpenSPSC(seg, "ab")
	if err != nil {
		return err
	}
	ba, err := ring.OpenSPSC(seg, "ba")
	if err != nil {
		return err
	}
	busy := c.Args()[0] == "busy"
	ab.SetBusyWait(busy)
	ba.SetBusyWait(busy)
	for {
		m, err := ab.Peek(ctx)
		if errors.Is(err, ring.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		out, err := ba.Reserve(ctx, len(m))
		if err != nil {
			return err
		}
		copy(out, m)
		ba.Commit(len(m))
		ab.Release()
	}
})

func startSPSCPinger(b *testing.B, size int, busy bool) *spscPinger {
	seg := testutil.Segment(b, 4<<20)
	ab, err := ring.NewSPSC(seg, "ab", 64<<10)
	if err != nil {
		b.Fatal(err)
	}
	ba, err := ring.NewSPSC(seg, "ba", 64<<10)
	if err != nil {
		b.Fatal(err)
	}
	ab.SetBusyWait(busy)
	ba.SetBusyWait(busy)
	mode := "adaptive"
	if busy {
		mode = "busy"
	}
	return &spscPinger{ab: ab, ba: ba, size: size, p: testutil.Start(b, benchSPSCEcho, seg, mode)}
}

func (s *spscPinger) Ping() error {
	ctx := context.Background()
	if _, err := s.ab.Reserve(ctx, s.size); err != nil {
		return err
	}
	s.ab.Commit(s.size)
	if _, err := s.ba.Peek(ctx); err != nil {
		return err
	}
	return s.ba.Release()
}

func (s *spscPinger) Close() error {
	s.ab.Close()
	return s.p.Wait()
}

// pipePinger is a round trip through a Conn, copying on both sides.
type pipePinger struct {
	c   *ring.Conn
	buf []byte
	p   *spawn.Process
}

var benchPipeEcho = spawn.Register("benchPipeEcho", func(ctx context.Context, c *spawn.Child) error {
	conn, err := ring.OpenPipe(c.Segments()[0], "p")
	if err != nil {
		return err
	}
	conn.SetBusyWait(c.Args()[0] == "busy")
	return echo(ctx, conn)
})

func startPipePinger(b *testing.B, size int, busy bool) *pipePinger {
	seg := testutil.Segment(b, 4<<20)
	c, err := ring.NewPipe(seg, "p", 64<<10)
	if err != nil {
		b.Fatal(err)
	}
	c.SetBusyWait(busy)
	mode := "adaptive"
	if busy {
		mode = "busy"
	}
	return &pipePinger{c: c, buf: make([]byte, size), p: testutil.Start(b, benchPipeEcho, seg, mode)}
}

func (s *pipePinger) Ping() error {
	if err := s.c.Send(context.Background(), s.buf); err != nil {
		return err
	}
	var err error
	s.buf, err = s.c.Recv(context.Background(), s.buf)
	return err
}

func (s *pipePinger) Close() error {
	s.c.Close()
	return s.p.Wait()
}

// BenchmarkRoundTrip: 64-byte ping-pong between two processes. mech=spsc
// and mech=pipe spin briefly then sleep (the default); the -busy variants
// never sleep. The baselines: atomic (busy polling of one word: the floor
// for spinning), futex (the floor for sleeping), os.Pipe, a unix socket,
// and Go channels inside one process.
func BenchmarkRoundTrip(b *testing.B) {
	const size = 64
	b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
		for _, busy := range []bool{false, true} {
			suffix := ""
			if busy {
				suffix = "-busy"
			}
			b.Run("mech=spsc"+suffix, func(b *testing.B) {
				p := startSPSCPinger(b, size, busy)
				defer p.Close()
				ipcbench.RoundTrip(b, p)
			})
			b.Run("mech=pipe"+suffix, func(b *testing.B) {
				p := startPipePinger(b, size, busy)
				defer p.Close()
				ipcbench.RoundTrip(b, p)
			})
		}
		ipcbench.RunBaselines(b, size)
	})
}

// ---- streaming ----

// A stream: producer and consumer children wait for the go flag (flags.a),
// move args[2] messages of args[1] bytes, and each consumer adds 1 to
// flags.c when done; the parent times from go to the last consumer.

func waitGo(f *flags) error {
	atomic.AddUint32(&f.b, 1)
	for atomic.LoadUint32(&f.a) == 0 {
		futex.Wait(&f.a, 0, time.Time{})
	}
	return nil
}

func markDone(f *flags) {
	atomic.AddUint32(&f.c, 1)
	futex.WakeAll(&f.c)
}

var benchStreamProducer = spawn.Register("benchStreamProducer", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	f, err := openFlags(seg)
	if err != nil {
		return err
	}
	kind := c.Args()[0]
	size, _ := strconv.Atoi(c.Args()[1])
	n, _ := strconv.Atoi(c.Args()[2])
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte(i)
	}
	switch kind {
	case "spsc-copy", "spsc-zerocopy", "spsc-batch":
		r, err := ring.OpenSPSC(seg, "r")
		if err != nil {
			return err
		}
		waitGo(f)
		switch kind {
		case "spsc-copy":
			for i := 0; i < n; i++ {
				if err := r.Send(ctx, msg); err != nil {
					return err
				}
			}
		case "spsc-zerocopy":
			for i := 0; i < n; i++ {
				b, err := r.Reserve(ctx, size)
				if err != nil {
					return err
				}
				copy(b, msg) // the one copy: producing the message in place
				r.Commit(size)
			}
		case "spsc-batch":
			batch := make([][]byte, 32)
			for i := range batch {
				batch[i] = msg
			}
			for i := 0; i < n; i += len(batch) {
				if err := r.SendBatch(ctx, batch[:min(len(batch), n-i)]); err != nil {
					return err
				}
			}
		}
	case "queue":
		q, err := ring.OpenQueue(seg, "q")
		if err != nil {
			return err
		}
		waitGo(f)
		for i := 0; i < n; i++ {
			if err := q.Send(ctx, msg); err != nil {
				return err
			}
		}
	case "raw":
		x, err := openRawStream(seg, f, size)
		if err != nil {
			return err
		}
		for i := uint64(0); i < uint64(n); i++ {
			if err := x.await(x.ack, i+1-min(i+1, x.slots)); err != nil { // slot i%slots is free
				return err
			}
			copy(x.slot(i), msg)
			atomic.StoreUint64(x.seq, i+1)
		}
	case "pipe":
		w := c.Files()[0]
		waitGo(f)
		for i := 0; i < n; i++ {
			if _, err := w.Write(msg); err != nil {
				return err
			}
		}
		w.Close()
	}
	return nil
})

var benchStreamConsumer = spawn.Register("benchStreamConsumer", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	f, err := openFlags(seg)
	if err != nil {
		return err
	}
	kind := c.Args()[0]
	size, _ := strconv.Atoi(c.Args()[1])
	n, _ := strconv.Atoi(c.Args()[2])
	buf := make([]byte, size)
	got := 0
	switch kind {
	case "spsc-copy", "spsc-zerocopy", "spsc-batch":
		r, err := ring.OpenSPSC(seg, "r")
		if err != nil {
			return err
		}
		waitGo(f)
		for got < n {
			switch kind {
			case "spsc-copy":
				if buf, err = r.Recv(ctx, buf); err != nil {
					return err
				}
				got++
			case "spsc-zerocopy":
				m, err := r.Peek(ctx)
				if err != nil {
					return err
				}
				ipcbench.Use(m) // used in place
				r.Release()
				got++
			case "spsc-batch":
				k, err := r.RecvBatch(ctx, 0, ipcbench.Use)
				if err != nil {
					return err
				}
				got += k
			}
		}
	case "queue":
		q, err := ring.OpenQueue(seg, "q")
		if err != nil {
			return err
		}
		waitGo(f)
		for {
			if buf, err = q.Recv(ctx, buf); err != nil {
				if errors.Is(err, ring.ErrClosed) {
					break
				}
				return err
			}
			got++
		}
	case "raw":
		x, err := openRawStream(seg, f, size)
		if err != nil {
			return err
		}
		for i := uint64(0); i < uint64(n); i++ {
			if err := x.await(x.seq, i+1); err != nil {
				return err
			}
			ipcbench.Use(x.slot(i)) // used in place
			atomic.StoreUint64(x.ack, i+1)
			got++
		}
	case "pipe":
		r := c.Files()[0]
		waitGo(f)
		for {
			if _, err := io.ReadFull(r, buf); err != nil {
				if err == io.EOF {
					break
				}
				return err
			}
			got++
		}
	}
	atomic.AddInt64(&f.n, int64(got))
	markDone(f)
	return nil
})

// stream runs one streaming measurement: producers × consumers children of
// kind moving b.N messages of size bytes, and reports msgs/s and MB/s.
func stream(b *testing.B, kind string, size, producers, consumers int) {
	seg := testutil.Segment(b, 64<<20)
	f := newFlags(b, seg)
	var files []*os.File
	switch kind {
	case "queue":
		if _, err := ring.NewQueue(seg, "q", ring.QueueOptions{Slots: 1024, SlotSize: size}); err != nil {
			b.Fatal(err)
		}
	case "pipe":
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		files = []*os.File{r, w}
	case "raw":
		if _, err := shm.NewBytes(seg, "raw", 128+streamRing(size)); err != nil {
			b.Fatal(err)
		}
	default:
		if _, err := ring.NewSPSC(seg, "r", streamRing(size)); err != nil {
			b.Fatal(err)
		}
	}
	n := b.N
	per := (n + producers - 1) / producers
	var ps, cs []*spawn.Process
	for i := 0; i < producers; i++ {
		k := min(per, n-i*per)
		opt := spawn.Options{Segments: []*shm.Segment{seg}, Args: []string{kind, strconv.Itoa(size), strconv.Itoa(k)}}
		if kind == "pipe" {
			opt.Files = files[1:]
		}
		p, err := benchStreamProducer.Start(context.Background(), opt)
		if err != nil {
			b.Fatal(err)
		}
		ps = append(ps, p)
	}
	for i := 0; i < consumers; i++ {
		opt := spawn.Options{Segments: []*shm.Segment{seg}, Args: []string{kind, strconv.Itoa(size), strconv.Itoa(n)}}
		if kind == "pipe" {
			opt.Files = files[:1]
		}
		p, err := benchStreamConsumer.Start(context.Background(), opt)
		if err != nil {
			b.Fatal(err)
		}
		cs = append(cs, p)
	}
	for _, file := range files {
		file.Close() // the children hold their ends
	}
	for atomic.LoadUint32(&f.b) != uint32(producers+consumers) {
		time.Sleep(100 * time.Microsecond) // setup, outside the timed part
	}
	b.ResetTimer()
	t0 := time.Now()
	atomic.StoreUint32(&f.a, 1)
	futex.WakeAll(&f.a)
	if kind == "queue" {
		testutil.WaitAll(b, ps...)
		q, _ := ring.OpenQueue(seg, "q")
		q.Close()
	}
	for {
		c := atomic.LoadUint32(&f.c)
		if c == uint32(consumers) {
			break
		}
		futex.Wait(&f.c, c, time.Time{})
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	testutil.WaitAll(b, ps...)
	testutil.WaitAll(b, cs...)
	if got := atomic.LoadInt64(&f.n); got != int64(n) {
		b.Fatalf("%d messages received, %d sent", got, n)
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(n)*float64(size)/elapsed.Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(n), "ns/msg")
}

// BenchmarkStream: one-way throughput between processes. At 64 bytes:
// SPSC (copying, zero-copy, batched), Queue 1→1 and 2→2, beside os.Pipe
// with one write per message and a buffered Go channel inside one process.
// At 4 KiB, 64 KiB and 1 MiB: SPSC copying and zero-copy beside a raw
// shared-memory stream (rawStream: what moving the bytes between the two
// cores costs with no protocol at all), os.Pipe and single-core memcpy
// bandwidth.
func BenchmarkStream(b *testing.B) {
	b.Run("size=64", func(b *testing.B) {
		for _, kind := range []string{"spsc-copy", "spsc-zerocopy", "spsc-batch"} {
			b.Run("mech="+kind, func(b *testing.B) { stream(b, kind, 64, 1, 1) })
		}
		b.Run("mech=queue-1x1", func(b *testing.B) { stream(b, "queue", 64, 1, 1) })
		b.Run("mech=queue-2x2", func(b *testing.B) { stream(b, "queue", 64, 2, 2) })
		b.Run("mech=pipe", func(b *testing.B) { stream(b, "pipe", 64, 1, 1) })
		b.Run("mech=chan", func(b *testing.B) { chanStream(b) })
	})
	for _, size := range []int{4 << 10, 64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			for _, kind := range []string{"spsc-copy", "spsc-zerocopy", "raw"} {
				b.Run("mech="+kind, func(b *testing.B) { stream(b, kind, size, 1, 1) })
			}
			b.Run("mech=pipe", func(b *testing.B) { stream(b, "pipe", size, 1, 1) })
			b.Run("mech=memcpy", func(b *testing.B) { memcpy(b, size) })
		})
	}
}

// chanStream moves 64-byte values through a buffered channel between two
// goroutines of this process.
func chanStream(b *testing.B) {
	ch := make(chan [64]byte, 1024)
	done := make(chan int)
	go func() {
		got := 0
		for range ch {
			got++
		}
		done <- got
	}()
	var msg [64]byte
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		ch <- msg
	}
	close(ch)
	got := <-done
	elapsed := time.Since(t0)
	b.StopTimer()
	if got != b.N {
		b.Fatalf("%d received", got)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(b.N)*64/elapsed.Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N), "ns/msg")
}

// memcpy measures single-core copy bandwidth at size bytes over the same
// working set a stream of that size uses: one source message copied into
// successive slots of a region as large as the stream's ring.
func memcpy(b *testing.B, size int) {
	span := streamRing(size)
	src := make([]byte, size)
	dst := make([]byte, span)
	slots := span / size
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		k := i % slots * size
		copy(dst[k:k+size], src)
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(b.N)*float64(size)/elapsed.Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N), "ns/msg")
}

// rawStream is a shared-memory stream with no protocol beyond two
// counters, a baseline of the large-message benchmarks: the producer copies
// each message into the next of a ring's worth of fixed slots and counts it
// in seq; the consumer reads it in place and counts it in ack. No framing,
// no checks, no sleeping: both sides poll. It shows what moving the bytes
// between two cores costs; the SPSC ring, which hands space back in larger
// pieces (its slip), can beat it.
type rawStream struct {
	seq, ack *uint64 // on lines of their own
	data     []byte
	size     uint64
	slots    uint64
}

// openRawStream opens the raw stream in seg and waits for the go flag.
func openRawStream(seg *shm.Segment, f *flags, size int) (*rawStream, error) {
	b, err := shm.OpenBytes(seg, "raw")
	if err != nil {
		return nil, err
	}
	x := &rawStream{
		seq:  (*uint64)(unsafe.Pointer(&b[0])),
		ack:  (*uint64)(unsafe.Pointer(&b[64])),
		data: b[128:],
		size: uint64(size),
	}
	x.slots = uint64(len(x.data)) / x.size
	waitGo(f)
	return x, nil
}

func (x *rawStream) slot(i uint64) []byte {
	k := i % x.slots * x.size
	return x.data[k : k+x.size]
}

// await polls *w until it reaches v, giving up after a minute.
func (x *rawStream) await(w *uint64, v uint64) error {
	deadline := time.Now().Add(time.Minute)
	for k := 0; atomic.LoadUint64(w) < v; k++ {
		spin.Pause()
		if k%(1<<16) == 0 && time.Now().After(deadline) {
			return fmt.Errorf("raw stream: no progress to %d", v)
		}
	}
	return nil
}

// streamRing is the SPSC capacity a stream of size-byte messages uses.
func streamRing(size int) int { return max(1<<20, 4*(size+16)) }

// BenchmarkCost: the CPU time each side of a 64-byte message costs, with
// no other process and no cache line moving between cores: one goroutine
// sends a block of messages into a 16 KiB ring (it stays in the L1 cache),
// then receives them, and the two phases are timed apart. send-ns and
// recv-ns are per message; ns/op, about their sum, also counts the clock
// reads between blocks. Streaming between two processes runs at the slower
// side's cost plus what moving the lines between the cores adds.
func BenchmarkCost(b *testing.B) {
	for _, kind := range []string{"spsc-copy", "spsc-zerocopy", "queue"} {
		b.Run("size=64/mech="+kind, func(b *testing.B) {
			seg := testutil.Segment(b, 1<<20)
			var r *ring.SPSC
			var q *ring.Queue
			var err error
			if kind == "queue" {
				q, err = ring.NewQueue(seg, "q", ring.QueueOptions{Slots: 128, SlotSize: 64})
			} else {
				r, err = ring.NewSPSC(seg, "r", 16<<10)
			}
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			msg := make([]byte, 64)
			buf := make([]byte, 64)
			const block = 128 // 128 records of 72 bytes fit in 16 KiB
			// The loops are written out per kind so that nothing but the
			// operations runs inside them.
			sendBlock := func() (err error) {
				switch kind {
				case "spsc-copy":
					for i := 0; i < block && err == nil; i++ {
						err = r.Send(ctx, msg)
					}
				case "spsc-zerocopy":
					for i := 0; i < block && err == nil; i++ {
						var m []byte
						if m, err = r.Reserve(ctx, len(msg)); err == nil {
							copy(m, msg)
							err = r.Commit(len(msg))
						}
					}
				case "queue":
					for i := 0; i < block && err == nil; i++ {
						err = q.Send(ctx, msg)
					}
				}
				return err
			}
			recvBlock := func() (err error) {
				switch kind {
				case "spsc-copy":
					for i := 0; i < block && err == nil; i++ {
						buf, err = r.Recv(ctx, buf)
					}
				case "spsc-zerocopy":
					for i := 0; i < block && err == nil; i++ {
						var m []byte
						if m, err = r.Peek(ctx); err == nil {
							ipcbench.Use(m)
							err = r.Release()
						}
					}
				case "queue":
					for i := 0; i < block && err == nil; i++ {
						buf, err = q.Recv(ctx, buf)
					}
				}
				return err
			}
			var send, recv time.Duration
			b.ResetTimer()
			for done := 0; done < b.N; done += block {
				t0 := time.Now()
				if err := sendBlock(); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := recvBlock(); err != nil {
					b.Fatal(err)
				}
				send += t1.Sub(t0)
				recv += time.Since(t1)
			}
			b.StopTimer()
			n := float64((b.N + block - 1) / block * block)
			b.ReportMetric(float64(send.Nanoseconds())/n, "send-ns")
			b.ReportMetric(float64(recv.Nanoseconds())/n, "recv-ns")
		})
	}
}

// BenchmarkCompress: 4 KiB and 64 KiB messages through an SPSC ring,
// plain and through Compress, for compressible (JSON records) and
// incompressible (random) payloads, between two goroutines (compression is
// CPU work on each side; the ring is the same). ring-bytes/msg is the space
// a message takes in the ring: what compression saves of its capacity.
func BenchmarkCompress(b *testing.B) {
	const maxSize = 64 << 10
	rng := rand.New(rand.NewPCG(1, 2))
	// json: records with repeated keys and a few values (compressible, as
	// logs and JSON are); random: incompressible bytes.
	statuses := []string{"active", "pending", "closed", "archived"}
	text := make([]byte, 0, maxSize+256)
	for i := 0; len(text) < maxSize; i++ {
		text = fmt.Appendf(text, `{"id":%d,"user":"user%04d","status":%q,"score":%d,"tags":["alpha","beta"]}`+"\n",
			100000+i, rng.IntN(5000), statuses[rng.IntN(len(statuses))], rng.IntN(1000))
	}
	random := make([]byte, maxSize)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	for _, size := range []int{4 << 10, maxSize} {
		for _, payload := range []struct {
			name string
			b    []byte
		}{{"json", text[:size]}, {"random", random[:size]}} {
			for _, compress := range []bool{false, true} {
				mech := "plain"
				if compress {
					mech = "s2"
				}
				b.Run(fmt.Sprintf("size=%d/data=%s/mech=%s", size, payload.name, mech), func(b *testing.B) {
					compressStream(b, payload.b, compress)
				})
			}
		}
	}
}

// compressStream sends b.N copies of msg through a 1 MiB SPSC ring, through
// Compress if compress, to a goroutine that receives them.
func compressStream(b *testing.B, msg []byte, compress bool) {
	seg := testutil.Segment(b, 8<<20)
	r, err := ring.NewSPSC(seg, "r", 1<<20)
	if err != nil {
		b.Fatal(err)
	}
	var m ring.Messenger = r
	if compress {
		m = ring.Compress(r, ring.CompressOptions{})
	}
	done := make(chan error)
	go func() {
		var buf []byte
		for i := 0; i < b.N; i++ {
			var err error
			if buf, err = m.Recv(context.Background(), buf); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := m.Send(context.Background(), msg); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	m.Send(context.Background(), msg)
	frame, err := r.Peek(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(frame)), "ring-bytes/msg")
	r.Release()
}

//go:build linux

package ring_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// flags is a block of words in a segment for handshakes between processes.
type flags struct {
	a, b, c uint32
	_       uint32
	n       int64
}

func newFlags(tb testing.TB, seg *shm.Segment) *flags {
	return testutil.Overlay[flags](tb, seg, "flags")
}

func openFlags(seg *shm.Segment) (*flags, error) {
	return testutil.OpenOverlay[flags](seg, "flags")
}

// cancelAsleep runs call in a goroutine, waits until asleep reports that
// it sleeps (what names the wait), cancels call's context and returns
// call's error: a test of cancellation that knows the call blocked.
func cancelAsleep(t *testing.T, what string, asleep func() bool, call func(context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- call(ctx) }()
	testutil.WaitFor(t, testutil.Timeout, what, func() bool {
		select {
		case err := <-done:
			t.Fatalf("%s: returned %v before it slept", what, err)
			return true
		default:
			return asleep()
		}
	})
	cancel()
	select {
	case err := <-done:
		return err
	case <-time.After(testutil.Timeout):
		t.Fatalf("%s: still blocked %v after its context was cancelled", what, testutil.Timeout)
		return nil
	}
}

// childRing opens, in a child, the flags and the ring "r" of its segment.
func childRing(c *spawn.Child) (*ring.SPSC, *flags, error) {
	seg := c.Segments()[0]
	f, err := openFlags(seg)
	if err != nil {
		return nil, nil, err
	}
	r, err := ring.OpenSPSC(seg, "r")
	return r, f, err
}

// ---- the stream test: every message arrives once, in order, intact ----

// pattern is the source of message bodies: message seq of length n carries
// an 8-byte seq, a 4-byte CRC-32 of the rest, and pattern bytes.
var pattern = func() []byte {
	b := make([]byte, largeMax+4096)
	r := rand.New(rand.NewPCG(7, 11))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

// streamLen returns the length of the next message: 0..4096, with the
// edges (0, 1, 11, 12, 4096) frequent; or, for a large stream, mostly
// lengths on both sides of ring.AlignFrom, up to largeMax.
func streamLen(r *rand.Rand, large bool) int {
	switch k := r.IntN(10); {
	case large && k > 1:
		return ring.AlignFrom - 64 + r.IntN(largeMax-ring.AlignFrom+65)
	case k == 0:
		return []int{0, 1, 11, 12, 4095, 4096}[r.IntN(6)]
	default:
		return r.IntN(4097)
	}
}

// largeMax is the longest message of a large stream.
const largeMax = ring.AlignFrom + 8192

// checkAligned reports an error if a message of ring.AlignFrom bytes or
// more does not start on a 64-byte boundary.
func checkAligned(m []byte, seq uint64) error {
	if len(m) >= ring.AlignFrom && uintptr(unsafe.Pointer(unsafe.SliceData(m)))%64 != 0 {
		return fmt.Errorf("message %d (%d bytes) starts at %p, not on a 64-byte boundary", seq, len(m), unsafe.SliceData(m))
	}
	return nil
}

func fillMessage(buf []byte, seq uint64) {
	if len(buf) < 12 {
		for i := range buf {
			buf[i] = byte(seq) + byte(i)*7
		}
		return
	}
	binary.LittleEndian.PutUint64(buf, seq)
	copy(buf[12:], pattern[seq%4096:])
	binary.LittleEndian.PutUint32(buf[8:], crc32.ChecksumIEEE(buf[12:]))
}

func checkMessage(msg []byte, seq uint64, n int) error {
	if len(msg) != n {
		return fmt.Errorf("message %d: %d bytes, want %d", seq, len(msg), n)
	}
	if n < 12 {
		for i := range msg {
			if msg[i] != byte(seq)+byte(i)*7 {
				return fmt.Errorf("message %d: byte %d is %d", seq, i, msg[i])
			}
		}
		return nil
	}
	if got := binary.LittleEndian.Uint64(msg); got != seq {
		return fmt.Errorf("message %d: carries sequence number %d", seq, got)
	}
	if crc32.ChecksumIEEE(msg[12:]) != binary.LittleEndian.Uint32(msg[8:]) || !bytes.Equal(msg[12:], pattern[seq%4096:][:n-12]) {
		return fmt.Errorf("message %d: body damaged", seq)
	}
	return nil
}

// childStreamProducer sends args[0] messages, cycling through Send,
// Reserve/Commit and SendBatch; args[1] is "large" for a large stream.
var childStreamProducer = spawn.Register("TestSPSCStream", func(ctx context.Context, c *spawn.Child) error {
	r, err := ring.OpenSPSC(c.Segments()[0], "r")
	if err != nil {
		return err
	}
	total, _ := strconv.ParseUint(c.Args()[0], 10, 64)
	large := c.Args()[1] == "large"
	lens := rand.New(rand.NewPCG(1, 2))
	streamLen := func(r *rand.Rand) int { return streamLen(r, large) }
	buf := make([]byte, largeMax)
	var batch [][]byte
	var store [8][]byte
	for i := range store {
		store[i] = make([]byte, largeMax)
	}
	for seq := uint64(0); seq < total; {
		switch seq % 3 {
		case 0:
			m := buf[:streamLen(lens)]
			fillMessage(m, seq)
			if err := r.Send(ctx, m); err != nil {
				return err
			}
			seq++
		case 1:
			n := streamLen(lens)
			extra := int(seq % 5) // reserve more than is committed
			if n+extra > r.MaxMessage() {
				extra = 0
			}
			b, err := r.Reserve(ctx, n+extra)
			if err != nil {
				return err
			}
			if err := checkAligned(b, seq); err != nil {
				return err
			}
			fillMessage(b[:n], seq)
			if err := r.Commit(n); err != nil {
				return err
			}
			seq++
		case 2:
			batch = batch[:0]
			for k := 0; k < 1+int(seq%8) && seq < total; k++ {
				m := store[k][:streamLen(lens)]
				fillMessage(m, seq)
				batch = append(batch, m)
				seq++
			}
			if err := r.SendBatch(ctx, batch); err != nil {
				return err
			}
		}
	}
	return r.Close()
})

// TestSPSCStream: a million messages of 0..4096 bytes through a 64 KiB
// ring.
func TestSPSCStream(t *testing.T) {
	testStream(t, testutil.Size(1_000_000, 10), 64<<10, false)
}

// TestSPSCStreamLarge: messages on both sides of AlignFrom through a ring
// that holds three or four, so that they wrap at many offsets; those of
// AlignFrom bytes or more must be 64-byte aligned, in Reserve and in Peek.
func TestSPSCStreamLarge(t *testing.T) {
	testStream(t, testutil.Size(400, 4), 4<<20, true)
}

// testStream sends total messages from a child process through a ring of
// capacity bytes and checks each.
func testStream(t *testing.T, n, capacity int, large bool) {
	total := uint64(n)
	seg := testutil.Segment(t, int64(capacity)+1<<20)
	r, err := ring.NewSPSC(seg, "r", capacity)
	if err != nil {
		t.Fatal(err)
	}
	mode := "small"
	if large {
		mode = "large"
	}
	p := testutil.Start(t, childStreamProducer, seg, strconv.FormatUint(total, 10), mode)
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
	defer cancel()
	lens := rand.New(rand.NewPCG(1, 2))
	streamLen := func(r *rand.Rand) int { return streamLen(r, large) }
	var buf []byte
	var seq uint64
	for seq < total {
		switch seq % 3 {
		case 0:
			if buf, err = r.Recv(ctx, buf); err != nil {
				t.Fatalf("Recv message %d: %v", seq, err)
			}
			if err := checkMessage(buf, seq, streamLen(lens)); err != nil {
				t.Fatal(err)
			}
			seq++
		case 1:
			m, err := r.Peek(ctx)
			if err != nil {
				t.Fatalf("Peek message %d: %v", seq, err)
			}
			if again, _ := r.Peek(ctx); unsafe.SliceData(again) != unsafe.SliceData(m) || len(again) != len(m) {
				t.Fatal("a second Peek returned another message")
			}
			if err := checkMessage(m, seq, streamLen(lens)); err != nil {
				t.Fatal(err)
			}
			if err := checkAligned(m, seq); err != nil {
				t.Fatal(err)
			}
			r.Release()
			seq++
		case 2:
			var ferr error
			_, err := r.RecvBatch(ctx, 1+int(seq%7), func(m []byte) {
				if ferr == nil {
					ferr = checkMessage(m, seq, streamLen(lens))
				}
				if ferr == nil {
					ferr = checkAligned(m, seq)
				}
				seq++
			})
			if err != nil || ferr != nil {
				t.Fatalf("RecvBatch at message %d: %v, %v", seq, err, ferr)
			}
		}
	}
	if _, err := r.Recv(ctx, buf); !errors.Is(err, ring.ErrClosed) {
		t.Fatalf("Recv after the last message = %v, want ErrClosed", err)
	}
	testutil.WaitAll(t, p)
	if r.Len() != 0 {
		t.Errorf("Len = %d after draining", r.Len())
	}
}

// ---- boundaries, in one process: the ring's arithmetic ----

func TestSPSCWrapAtEveryOffset(t *testing.T) {
	t.Run("plain", func(t *testing.T) { testWrap(t, ring.AlignFrom) })
	// Records of 100 bytes or more padded to put their payload on a
	// 64-byte boundary; those of more than 184 cannot afford the pad.
	t.Run("padded", func(t *testing.T) { testWrap(t, 100) })
}

func testWrap(t *testing.T, alignFrom int) {
	ctx := context.Background()
	for first := 0; first <= 200; first++ {
		seg := testutil.Segment(t, 1<<16)
		r, err := ring.NewSPSC(seg, "r", 256)
		if err != nil {
			t.Fatal(err)
		}
		ring.SetAlignFrom(r, alignFrom)
		if r.Cap() != 256 || r.MaxMessage() != 240 {
			t.Fatalf("Cap %d MaxMessage %d", r.Cap(), r.MaxMessage())
		}
		// A first message moves the stream to an arbitrary offset; then
		// messages of every size cross the end of the ring. A message that
		// wraps waits for the consumer to pass the end: it runs in its own
		// goroutine.
		sizes := []int{first, 240, 0, 1, 239, 100, 240, 7, 233, 240}
		errc := make(chan error, 1)
		go func() {
			for i, n := range sizes {
				if err := r.Send(ctx, bytes.Repeat([]byte{byte(i + 1)}, n)); err != nil {
					errc <- fmt.Errorf("message %d (%d bytes): %v", i, n, err)
					return
				}
			}
			errc <- nil
		}()
		for i, n := range sizes {
			m, err := r.Peek(ctx)
			if err != nil || !bytes.Equal(m, bytes.Repeat([]byte{byte(i + 1)}, n)) {
				t.Fatalf("first %d, message %d (%d bytes): got %d bytes, %v", first, i, n, len(m), err)
			}
			padded := n >= alignFrom && n <= r.MaxMessage()-56
			if at := uintptr(unsafe.Pointer(unsafe.SliceData(m))); padded && at%64 != 0 {
				t.Fatalf("first %d, message %d (%d bytes) at %#x: not on a 64-byte boundary", first, i, n, at)
			}
			r.Release()
		}
		if err := <-errc; err != nil {
			t.Fatalf("first %d: %v", first, err)
		}
		seg.Close()
	}
}

func TestSPSCFullAndEmpty(t *testing.T) {
	seg := testutil.Segment(t, 1<<16)
	r, err := ring.NewSPSC(seg, "r", 256)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := r.TryRecv(nil); ok || err != nil {
		t.Fatalf("TryRecv on empty = %v, %v", ok, err)
	}
	// 8-byte messages take 16 bytes each; one header stays free: 15 fit.
	n := 0
	for ; ; n++ {
		ok, err := r.TrySend([]byte("12345678"))
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
	}
	if n != 15 || r.Len() != 15 {
		t.Fatalf("%d messages fit (Len %d), want 15", n, r.Len())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := r.Send(ctx, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send on a full ring = %v, want DeadlineExceeded", err)
	}
	for i := 0; i < 15; i++ {
		m, ok, err := r.TryRecv(nil)
		if !ok || err != nil || string(m) != "12345678" {
			t.Fatalf("TryRecv %d = %q, %v, %v", i, m, ok, err)
		}
	}
	if _, ok, _ := r.TryRecv(nil); ok {
		t.Fatal("TryRecv on an emptied ring succeeded")
	}
	// Zero-length and maximum-size messages; the maximum wraps here, so
	// the producer waits for the consumer: another goroutine sends.
	sizes := []int{0, r.MaxMessage(), 0, r.MaxMessage()}
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for _, n := range sizes {
			r.Send(context.Background(), bytes.Repeat([]byte{7}, n))
		}
	}()
	for _, n := range sizes {
		if m, err := r.Recv(context.Background(), nil); err != nil || !bytes.Equal(m, bytes.Repeat([]byte{7}, n)) {
			t.Fatalf("Recv of %d bytes: %d, %v", n, len(m), err)
		}
	}
	<-sent // the sending goroutine hands the producer's role back
	// From one goroutine, a message that cannot wrap yet is refused by
	// TrySend until the consumer has passed the end of the ring.
	for i := 0; i < 5; i++ {
		if ok, err := r.TrySend(make([]byte, 40)); !ok || err != nil {
			t.Fatal(ok, err)
		}
		r.Recv(context.Background(), nil)
	}
	if ok, _ := r.TrySend(make([]byte, r.MaxMessage())); ok {
		t.Fatal("TrySend of a wrapping maximum message succeeded before the consumer passed the end")
	}
	if _, ok, _ := r.TryRecv(nil); ok {
		t.Fatal("TryRecv found a message")
	}
	if ok, err := r.TrySend(make([]byte, r.MaxMessage())); !ok || err != nil {
		t.Fatalf("TrySend once the consumer passed the end = %v, %v", ok, err)
	}
	if m, _, _ := r.TryRecv(nil); len(m) != r.MaxMessage() {
		t.Fatalf("TryRecv got %d bytes", len(m))
	}
	if err := r.Send(context.Background(), make([]byte, r.MaxMessage()+1)); !errors.Is(err, ring.ErrTooLarge) {
		t.Fatalf("Send of MaxMessage+1 = %v, want ErrTooLarge", err)
	}
	if _, err := r.Reserve(context.Background(), -1); !errors.Is(err, ring.ErrTooLarge) {
		t.Fatalf("Reserve(-1) = %v, want ErrTooLarge", err)
	}
	// Waiting on empty ends with the context, cancelled while asleep.
	err = cancelAsleep(t, "Recv to sleep on the empty ring", func() bool { return ring.SPSCSleeping(r, true) },
		func(ctx context.Context) error { _, err := r.Recv(ctx, nil); return err })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Recv on empty, cancelled = %v, want context.Canceled", err)
	}
	// And the ring still works.
	if err := r.Send(context.Background(), []byte("after")); err != nil {
		t.Fatal(err)
	}
	if m, _ := r.Recv(context.Background(), nil); string(m) != "after" {
		t.Fatalf("got %q", m)
	}
}

func TestSPSCClose(t *testing.T) {
	seg := testutil.Segment(t, 1<<16)
	r, err := ring.NewSPSC(seg, "r", 1024)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, m := range []string{"a", "b", "c"} {
		if err := r.Send(ctx, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	r.Close()
	if err := r.Send(ctx, []byte("d")); !errors.Is(err, ring.ErrClosed) {
		t.Fatalf("Send after Close = %v, want ErrClosed", err)
	}
	if ok, err := r.TrySend([]byte("d")); ok || !errors.Is(err, ring.ErrClosed) {
		t.Fatalf("TrySend after Close = %v, %v", ok, err)
	}
	for _, want := range []string{"a", "b", "c"} {
		if m, err := r.Recv(ctx, nil); err != nil || string(m) != want {
			t.Fatalf("Recv after Close = %q, %v; want %q", m, err, want)
		}
	}
	for i := 0; i < 2; i++ {
		if _, err := r.Recv(ctx, nil); !errors.Is(err, ring.ErrClosed) {
			t.Fatalf("Recv of a drained closed ring = %v, want ErrClosed", err)
		}
		if _, _, err := r.TryRecv(nil); !errors.Is(err, ring.ErrClosed) {
			t.Fatalf("TryRecv of a drained closed ring = %v, want ErrClosed", err)
		}
	}
}

// childSPSCBlock, per args[0], fills ring "full" and sends once more
// ("send"), or receives from ring "empty" ("recv"). Before blocking, a
// sender checks that a message too large for the ring fails at once. The
// blocking call must end with ErrClosed when the test closes the ring;
// the sender counts what it sent in flags.n.
var childSPSCBlock = spawn.Register("TestSPSCCloseWakesWaiters", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	f, err := openFlags(seg)
	if err != nil {
		return err
	}
	if c.Args()[0] == "recv" {
		r, err := ring.OpenSPSC(seg, "empty")
		if err != nil {
			return err
		}
		if _, err := r.Recv(ctx, nil); !errors.Is(err, ring.ErrClosed) {
			return fmt.Errorf("Recv on empty after Close = %v, want ErrClosed", err)
		}
		return nil
	}
	r, err := ring.OpenSPSC(seg, "full")
	if err != nil {
		return err
	}
	for {
		ok, err := r.TrySend([]byte(fmt.Sprintf("m%d", atomic.LoadInt64(&f.n))))
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		atomic.AddInt64(&f.n, 1)
	}
	if err := r.Send(ctx, make([]byte, r.MaxMessage()+1)); !errors.Is(err, ring.ErrTooLarge) {
		return fmt.Errorf("Send of MaxMessage+1 bytes to a full ring = %v, want ErrTooLarge at once", err)
	}
	if err := r.Send(ctx, []byte("late")); !errors.Is(err, ring.ErrClosed) {
		return fmt.Errorf("Send on full after Close = %v, want ErrClosed", err)
	}
	return nil
})

// TestSPSCCloseWakesWaiters: a producer asleep on a full ring and a
// consumer asleep on an empty one, in other processes, both return
// ErrClosed when this process closes the rings; what was sent before is
// still received.
func TestSPSCCloseWakesWaiters(t *testing.T) {
	seg := testutil.Segment(t, 1<<16)
	full, err := ring.NewSPSC(seg, "full", 64)
	if err != nil {
		t.Fatal(err)
	}
	empty, err := ring.NewSPSC(seg, "empty", 64)
	if err != nil {
		t.Fatal(err)
	}
	f := newFlags(t, seg)
	sender := testutil.Start(t, childSPSCBlock, seg, "send")
	receiver := testutil.Start(t, childSPSCBlock, seg, "recv")
	testutil.WaitFor(t, testutil.Timeout, "the sender to sleep on the full ring", func() bool { return ring.SPSCSleeping(full, false) })
	testutil.WaitFor(t, testutil.Timeout, "the receiver to sleep on the empty ring", func() bool { return ring.SPSCSleeping(empty, true) })
	full.Close()
	empty.Close()
	testutil.WaitAll(t, sender, receiver)
	n := int(atomic.LoadInt64(&f.n))
	if n != 3 {
		t.Fatalf("the sender filled a 64-byte ring with %d two-byte messages, want 3", n)
	}
	for i := 0; i < n; i++ {
		if m, err := full.Recv(context.Background(), nil); err != nil || string(m) != fmt.Sprintf("m%d", i) {
			t.Fatalf("Recv %d after Close = %q, %v", i, m, err)
		}
	}
	if _, err := full.Recv(context.Background(), nil); !errors.Is(err, ring.ErrClosed) {
		t.Fatalf("Recv of the drained, closed ring = %v, want ErrClosed", err)
	}
}

func TestSPSCMisuse(t *testing.T) {
	seg := testutil.Segment(t, 1<<16)
	r, _ := ring.NewSPSC(seg, "r", 1024)
	testutil.MustPanic(t, "Commit without Reserve", func() { r.Commit(0) })
	testutil.MustPanic(t, "Release without Peek", func() { r.Release() })
	if _, err := r.Reserve(context.Background(), 10); err != nil {
		t.Fatal(err)
	}
	testutil.MustPanic(t, "Commit(11) of a 10-byte reservation", func() { r.Commit(11) })
	testutil.MustPanic(t, "Commit(-1) of a 10-byte reservation", func() { r.Commit(-1) })
	testutil.MustPanic(t, "Reserve with a reservation pending", func() { r.Reserve(context.Background(), 1) })
	if _, err := ring.NewSPSC(seg, "bad", 0); err == nil {
		t.Fatal("NewSPSC with capacity 0 succeeded")
	}
	if _, err := ring.OpenSPSC(seg, "nope"); !errors.Is(err, shm.ErrNotExist) {
		t.Fatalf("OpenSPSC of a missing name = %v", err)
	}
	if _, err := ring.OpenQueue(seg, "r"); !errors.Is(err, shm.ErrWrongKind) {
		t.Fatalf("OpenQueue of an SPSC ring = %v, want ErrWrongKind", err)
	}
}

// ---- roles and dead peers, across processes ----

// childRole acts on the ring per args: "send N" sends N messages and then
// raises flag a and blocks; "recv" receives one message, raises flag a and
// blocks; "recv-peek" receives "mI", peeks "mK" without releasing it,
// stores K+1 in flag b, raises flag a and blocks; "try-send" reports (in flag b) whether sending failed with ErrBusy.
var childRole = spawn.Register("TestSPSCRoles", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	r, err := ring.OpenSPSC(seg, "r")
	if err != nil {
		return err
	}
	f, err := openFlags(seg)
	if err != nil {
		return err
	}
	switch c.Args()[0] {
	case "send":
		n, _ := strconv.Atoi(c.Args()[1])
		for i := 0; i < n; i++ {
			if err := r.Send(ctx, []byte(fmt.Sprintf("m%d", i))); err != nil {
				return err
			}
		}
		if len(c.Args()) > 2 && c.Args()[2] == "reserve" {
			// Die (when the test kills us) in the middle of a record:
			// reserved and half written, never committed.
			buf, err := r.Reserve(ctx, 100)
			if err != nil {
				return err
			}
			copy(buf, "torn record")
		}
	case "recv":
		if _, err := r.Recv(ctx, nil); err != nil {
			return err
		}
	case "recv-peek":
		if _, err := r.Recv(ctx, nil); err != nil {
			return err
		}
		m, err := r.Peek(ctx)
		if err != nil {
			return err
		}
		var k uint32
		if _, err := fmt.Sscanf(string(m), "m%d", &k); err != nil {
			return fmt.Errorf("peeked %q: %v", m, err)
		}
		atomic.StoreUint32(&f.b, k+1)
	case "try-send":
		if err := r.Send(ctx, []byte("x")); errors.Is(err, ring.ErrBusy) {
			atomic.StoreUint32(&f.b, 1)
			return nil
		}
		return fmt.Errorf("Send by a second producer = %v, want ErrBusy", err)
	}
	atomic.StoreUint32(&f.a, 1)
	<-ctx.Done()
	return nil
})

func TestSPSCRoles(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	r, err := ring.NewSPSC(seg, "r", 1024)
	if err != nil {
		t.Fatal(err)
	}
	f := newFlags(t, seg)
	producer := testutil.Start(t, childRole, seg, "send", "3", "reserve")
	testutil.WaitFor(t, testutil.Timeout, "the producer to send", func() bool { return atomic.LoadUint32(&f.a) == 1 })

	// A second live producer is refused.
	testutil.WaitAll(t, testutil.Start(t, childRole, seg, "try-send"))
	if atomic.LoadUint32(&f.b) != 1 {
		t.Fatal("second producer not refused")
	}
	if err := r.Send(context.Background(), []byte("from the parent")); !errors.Is(err, ring.ErrBusy) {
		t.Fatalf("Send from the parent while the child produces = %v, want ErrBusy", err)
	}

	// The producer dies in the middle of a fourth record: the three it
	// committed are still received, then the wait for more reports the
	// death; the torn record never appears.
	producer.Kill()
	producer.Wait()
	for i := 0; i < 3; i++ {
		if m, err := r.Recv(context.Background(), nil); err != nil || string(m) != fmt.Sprintf("m%d", i) {
			t.Fatalf("message %d = %q, %v", i, m, err)
		}
	}
	_, err = r.Recv(context.Background(), nil)
	if !errors.Is(err, ring.ErrPeerDied) || !strings.Contains(err.Error(), strconv.Itoa(producer.Pid())) {
		t.Fatalf("Recv after the producer died = %v, want ErrPeerDied naming pid %d", err, producer.Pid())
	}
	// Another process may take over the dead producer's role.
	atomic.StoreUint32(&f.a, 0)
	p2 := testutil.Start(t, childRole, seg, "send", "1")
	defer func() { p2.Kill(); p2.Wait() }()
	if m, err := r.Recv(context.Background(), nil); err != nil || string(m) != "m0" {
		t.Fatalf("Recv from the new producer = %q, %v", m, err)
	}
}

// childBatcher sends args[0] rounds of batchLen messages of batchMsg
// bytes with SendBatch, each round once the test has received the one
// before (flags.a counts them), so that no batch meets a full ring.
var childBatcher = spawn.Register("TestSPSCBatchPublishedAtOnce", func(ctx context.Context, c *spawn.Child) error {
	r, f, err := childRing(c)
	if err != nil {
		return err
	}
	rounds, _ := strconv.Atoi(c.Args()[0])
	batch := make([][]byte, batchLen)
	for i := range batch {
		batch[i] = make([]byte, batchMsg)
	}
	for round := 0; round < rounds; round++ {
		if err := testutil.Await("the test to receive the last batch", func() bool { return atomic.LoadUint32(&f.a) == uint32(round) }); err != nil {
			return err
		}
		for i, m := range batch {
			binary.NativeEndian.PutUint32(m, uint32(round*batchLen+i))
		}
		if err := r.SendBatch(ctx, batch); err != nil {
			return err
		}
	}
	return nil
})

const (
	batchLen = 8
	batchMsg = 32 << 10 // long enough that writing a batch takes microseconds
)

// TestSPSCBatchPublishedAtOnce: SendBatch publishes a batch with one
// store, so a consumer in another process that has received a batch's
// first message finds the rest there at once (TryRecv), in every round.
func TestSPSCBatchPublishedAtOnce(t *testing.T) {
	seg := testutil.Segment(t, 4<<20)
	r, err := ring.NewSPSC(seg, "r", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	f := newFlags(t, seg)
	rounds := testutil.Size(300, 3)
	p := testutil.Start(t, childBatcher, seg, strconv.Itoa(rounds))
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
	defer cancel()
	var m []byte
	for round := 0; round < rounds; round++ {
		for i := 0; i < batchLen; i++ {
			var ok bool
			if i == 0 {
				m, err = r.Recv(ctx, m)
				ok = err == nil
			} else {
				m, ok, err = r.TryRecv(m)
			}
			if err != nil || !ok {
				t.Fatalf("round %d: message %d of the batch: ok %v, %v; want it there with the first", round, i, ok, err)
			}
			if len(m) != batchMsg || binary.NativeEndian.Uint32(m) != uint32(round*batchLen+i) {
				t.Fatalf("round %d: message %d is %d bytes numbered %d", round, i, len(m), binary.NativeEndian.Uint32(m))
			}
		}
		atomic.StoreUint32(&f.a, uint32(round+1))
	}
	testutil.WaitAll(t, p)
}

// childBatchReceiver receives with one RecvBatch. For the i-th message
// (from 1) it stores i in flags.b and waits until the test stores i in
// flags.c; after the batch it stores the count in flags.n and raises a.
var childBatchReceiver = spawn.Register("TestSPSCBatchReleasedAtOnce", func(ctx context.Context, c *spawn.Child) error {
	r, f, err := childRing(c)
	if err != nil {
		return err
	}
	var werr error
	i := uint32(0)
	n, err := r.RecvBatch(ctx, 0, func(m []byte) {
		i++
		if string(m) != fmt.Sprintf("m%d", i-1) {
			werr = fmt.Errorf("message %d is %q", i, m)
		}
		atomic.StoreUint32(&f.b, i)
		if err := testutil.Await("the test to look at the ring", func() bool { return atomic.LoadUint32(&f.c) == i }); err != nil {
			werr = err
		}
	})
	if err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	atomic.StoreInt64(&f.n, int64(n))
	atomic.StoreUint32(&f.a, 1)
	return nil
})

// TestSPSCBatchReleasedAtOnce: RecvBatch releases what it received with
// one store at the end: while its callback runs, the producer in another
// process finds no space freed; once it returns, all of it.
func TestSPSCBatchReleasedAtOnce(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	r, err := ring.NewSPSC(seg, "r", 64)
	if err != nil {
		t.Fatal(err)
	}
	f := newFlags(t, seg)
	for i := 0; i < 3; i++ { // three 16-byte records fill a 64-byte ring
		if ok, err := r.TrySend([]byte(fmt.Sprintf("m%d", i))); !ok || err != nil {
			t.Fatalf("TrySend %d = %v, %v", i, ok, err)
		}
	}
	p := testutil.Start(t, childBatchReceiver, seg)
	for i := uint32(1); i <= 3; i++ {
		testutil.WaitFor(t, testutil.Timeout, fmt.Sprintf("the receiver's callback for message %d", i), func() bool { return atomic.LoadUint32(&f.b) == i })
		if ok, err := r.TrySend([]byte("x")); ok || err != nil {
			t.Fatalf("TrySend during the batch's callback %d = %v, %v; want no space freed yet", i, ok, err)
		}
		atomic.StoreUint32(&f.c, i)
	}
	testutil.WaitAll(t, p)
	if n := atomic.LoadInt64(&f.n); n != 3 || atomic.LoadUint32(&f.a) != 1 {
		t.Fatalf("RecvBatch handled %d messages, want 3", n)
	}
	for i := 0; i < 3; i++ {
		if ok, err := r.TrySend([]byte(fmt.Sprintf("n%d", i))); !ok || err != nil {
			t.Fatalf("TrySend %d after the batch = %v, %v; want all its space free", i, ok, err)
		}
	}
}

// childCounter receives args[0] messages, then one more, and exits.
var childCounter = spawn.Register("TestSPSCWakesOnlySleepers", func(ctx context.Context, c *spawn.Child) error {
	r, _, err := childRing(c)
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(c.Args()[0])
	for i := 0; i <= n; i++ {
		m, err := r.Recv(ctx, nil)
		if err != nil {
			return err
		}
		if want := fmt.Sprintf("m%d", i); i < n && string(m) != want || i == n && string(m) != "last" {
			return fmt.Errorf("message %d is %q", i, m)
		}
	}
	return nil
})

// TestSPSCWakesOnlySleepers: a side makes the wake system call only for a
// sleeper it finds recorded. Sending and receiving while the other side is
// not asleep wakes nobody (the counters of wake-ups stay at 0); a consumer
// in another process asleep on an empty ring is woken exactly once by the
// message it waits for.
func TestSPSCWakesOnlySleepers(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	r, err := ring.NewSPSC(seg, "r", 256<<10)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	for i := 0; i < n; i++ {
		if err := r.Send(context.Background(), []byte(fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if w := ring.SPSCWakes(r, true); w != 0 {
		t.Fatalf("%d wake-ups of a consumer that never waited", w)
	}
	newFlags(t, seg) // childRing opens it
	p := testutil.Start(t, childCounter, seg, strconv.Itoa(n))
	testutil.WaitFor(t, testutil.Timeout, "the consumer to receive everything and sleep", func() bool { return ring.SPSCSleeping(r, true) })
	if w := ring.SPSCWakes(r, false); w != 0 {
		t.Fatalf("the consumer woke the producer %d times; it never waited", w)
	}
	if err := r.Send(context.Background(), []byte("last")); err != nil {
		t.Fatal(err)
	}
	testutil.WaitAll(t, p)
	if w := ring.SPSCWakes(r, true); w != 1 {
		t.Fatalf("%d wake-ups of the consumer, which slept once", w)
	}
	if ring.SPSCSleeping(r, true) {
		t.Fatal("the wake left the consumer's wait flag set")
	}
	for i := 0; i < n; i++ {
		if err := r.Send(context.Background(), []byte("after")); err != nil {
			t.Fatal(err)
		}
	}
	if w := ring.SPSCWakes(r, true); w != 1 {
		t.Fatalf("%d wake-ups after the consumer left, want still 1", w)
	}
}

// TestSPSCConsumerDies: a consumer killed with a message peeked and not
// released. The producer, waiting for space, gets ErrPeerDied; a new
// consumer starts at the last released position, so it receives the
// peeked message again, and not the one the dead consumer released.
func TestSPSCConsumerDies(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	r, err := ring.NewSPSC(seg, "r", 64)
	if err != nil {
		t.Fatal(err)
	}
	f := newFlags(t, seg)
	ctx := context.Background()
	// Fill the ring (three 16-byte records), so that the next Send waits
	// for the consumer.
	sent := 0
	for ; ; sent++ {
		ok, err := r.TrySend([]byte(fmt.Sprintf("m%d", sent)))
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
	}
	if sent != 3 {
		t.Fatalf("a 64-byte ring took %d two-byte messages, want 3", sent)
	}
	consumer := testutil.Start(t, childRole, seg, "recv-peek") // receives m0, peeks m1
	testutil.WaitFor(t, testutil.Timeout, "the consumer to receive and peek", func() bool { return atomic.LoadUint32(&f.a) == 1 })
	if got := atomic.LoadUint32(&f.b); got != 1+1 {
		t.Fatalf("the consumer peeked message %d, want 1", int(got)-1)
	}
	if err := r.Send(ctx, []byte("m3")); err != nil { // m0's space
		t.Fatal(err)
	}
	consumer.Kill()
	consumer.Wait()
	if err := r.Send(ctx, []byte("m4")); !errors.Is(err, ring.ErrPeerDied) {
		t.Fatalf("Send to a full ring whose consumer died = %v, want ErrPeerDied", err)
	}
	if r.Len() != 3 {
		t.Fatalf("Len after the consumer died = %d, want 3 (m1 to m3)", r.Len())
	}
	// A new consumer takes over: m1, peeked and not released, comes again;
	// m0, released, does not; m4 was refused.
	var got []string
	for len(got) < 3 {
		m, err := r.Recv(ctx, nil)
		if err != nil {
			t.Fatalf("Recv by the new consumer after %q: %v", got, err)
		}
		got = append(got, string(m))
	}
	if m, ok, err := r.TryRecv(nil); ok || err != nil {
		t.Fatalf("TryRecv after the last message = %q, %v, %v; want nothing", m, ok, err)
	}
	if want := []string{"m1", "m2", "m3"}; !slices.Equal(got, want) {
		t.Fatalf("the new consumer received %q, want %q", got, want)
	}
	// The ring carries on with the new consumer.
	if err := r.Send(ctx, []byte("m4")); err != nil {
		t.Fatal(err)
	}
	if m, err := r.Recv(ctx, nil); err != nil || string(m) != "m4" {
		t.Fatalf("Recv after the takeover = %q, %v", m, err)
	}
}

// ---- corruption ----

func TestSPSCCorrupt(t *testing.T) {
	seg := testutil.Segment(t, 1<<16)
	r, err := ring.NewSPSC(seg, "r", 256)
	if err != nil {
		t.Fatal(err)
	}
	mem, err := seg.Lookup("r", shm.KindSPSC)
	if err != nil {
		t.Fatal(err)
	}
	data := mem[ring.SPSCHeaderSize:]
	for _, tc := range []struct {
		name string
		hdr  uint64
		want string
	}{
		{"uncommitted bits", 5, "is not a record header"},
		{"unknown flag", 1<<32 | 1<<40, "is not a record header"},
		{"other lap", 1<<32 | 3<<48, "belongs to another lap"},
		{"too long", 1<<32 | 1000, "a 1000-byte record"},
		{"past the end", 1<<32 | 241, "a 241-byte record"},
		{"skip with length", 1<<32 | 1<<33 | 8, "malformed skip record"},
		{"skip with pad", 1<<32 | 1<<33 | 1<<34, "malformed skip record"},
		{"pad past the end", 1<<32 | 7<<34 | 200, "a 200-byte record"},
	} {
		binary.NativeEndian.PutUint64(data, tc.hdr)
		_, err := r.Recv(context.Background(), nil)
		if !errors.Is(err, shm.ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Recv = %v, want ErrCorrupt saying %q", tc.name, err, tc.want)
		}
	}
	// A damaged ring header is refused at open.
	binary.NativeEndian.PutUint64(mem[8:], 100) // capacity not a power of two
	if _, err := ring.OpenSPSC(seg, "r"); !errors.Is(err, shm.ErrCorrupt) || !strings.Contains(err.Error(), "capacity") {
		t.Fatalf("OpenSPSC of a damaged header = %v", err)
	}
}

// TestSPSCReset: the producer empties a ring whose consumer died and hands
// it to a new consumer, which sees only what is sent afterwards.
func TestSPSCReset(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	r, err := ring.NewSPSC(seg, "r", 1024)
	if err != nil {
		t.Fatal(err)
	}
	f := newFlags(t, seg)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		r.Send(ctx, []byte(fmt.Sprintf("old %d", i)))
	}
	consumer := testutil.Start(t, childRole, seg, "recv") // receives "old 0", then blocks
	testutil.WaitFor(t, testutil.Timeout, "the consumer to receive", func() bool { return atomic.LoadUint32(&f.a) == 1 })
	if err := r.Reset(); !errors.Is(err, ring.ErrBusy) {
		t.Fatalf("Reset while the consumer lives = %v, want ErrBusy", err)
	}
	consumer.Kill()
	consumer.Wait()
	if err := r.Reset(); err != nil {
		t.Fatalf("Reset after the consumer died: %v", err)
	}
	if r.Len() != 0 {
		t.Fatalf("Len after Reset = %d", r.Len())
	}
	r.Send(ctx, []byte("new"))
	if m, err := r.Recv(ctx, nil); err != nil || string(m) != "new" {
		t.Fatalf("Recv after Reset = %q, %v; want only what was sent afterwards", m, err)
	}
}

// childReceiveOne receives one message from ring "r", reports it in
// flags.a, and then stays away from the ring until the parent sets flags.b.
var childReceiveOne = spawn.Register("TestSPSCSlipBounded", func(ctx context.Context, c *spawn.Child) error {
	r, f, err := childRing(c)
	if err != nil {
		return err
	}
	if _, err := r.Recv(ctx, nil); err != nil {
		return err
	}
	atomic.StoreUint32(&f.a, 1)
	return testutil.Await("the parent's send", func() bool { return atomic.LoadUint32(&f.b) == 1 })
})

// TestSPSCSlipBounded: a producer that waited for space waits a little
// longer for a larger share of the ring (the slip), but only for a bounded
// time: a consumer in another process that frees one record and then stops
// receiving must not stall a send that fits.
func TestSPSCSlipBounded(t *testing.T) {
	seg := testutil.Segment(t, 1<<16)
	f := newFlags(t, seg)
	r, err := ring.NewSPSC(seg, "r", 4096)
	if err != nil {
		t.Fatal(err)
	}
	// 56-byte messages take 64 bytes; one header stays free: 63 fit.
	msg := make([]byte, 56)
	n := 0
	for ; ; n++ {
		ok, err := r.TrySend(msg)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
	}
	if n != 63 {
		t.Fatalf("%d messages fit, want 63", n)
	}
	child := testutil.Start(t, childReceiveOne, seg)
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
	defer cancel()
	// The ring is full: Send waits until the child frees one record, which
	// is less than the share the slip hopes for.
	if err := r.Send(ctx, msg); err != nil {
		t.Fatalf("Send into the record the consumer freed = %v", err)
	}
	testutil.WaitFor(t, testutil.Timeout, "the consumer's report", func() bool { return atomic.LoadUint32(&f.a) == 1 })
	if got := r.Len(); got != 63 {
		t.Fatalf("Len = %d after one receive and one send, want 63", got)
	}
	atomic.StoreUint32(&f.b, 1)
	testutil.WaitAll(t, child)
}

// childSlip sends 16 one-byte messages, waits for flags.a, sends one more
// and closes the ring.
var childSlip = spawn.Register("TestSPSCConsumerSlip", func(ctx context.Context, c *spawn.Child) error {
	r, f, err := childRing(c)
	if err != nil {
		return err
	}
	for i := range 16 {
		if err := r.Send(ctx, []byte{byte(i)}); err != nil {
			return err
		}
	}
	if err := testutil.Await("flag a", func() bool { return atomic.LoadUint32(&f.a) == 1 }); err != nil {
		return err
	}
	if err := r.Send(ctx, []byte{16}); err != nil {
		return err
	}
	return r.Close()
})

// TestSPSCConsumerSlip: a consumer that has streamed 16 messages and finds
// the ring empty slips (spins briefly) before it waits; the wait that
// follows still ends with its context, a later message still arrives, and
// Close still ends the stream.
func TestSPSCConsumerSlip(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	r, err := ring.NewSPSC(seg, "r", 4096)
	if err != nil {
		t.Fatal(err)
	}
	f := newFlags(t, seg)
	p := testutil.Start(t, childSlip, seg)
	defer p.Kill()
	ctx := context.Background()
	for i := range 16 {
		if m, err := r.Recv(ctx, nil); err != nil || !bytes.Equal(m, []byte{byte(i)}) {
			t.Fatalf("message %d = %v, %v", i, m, err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if m, err := r.Recv(short, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Recv of an empty ring after a stream = %v, %v; want context.DeadlineExceeded", m, err)
	}
	atomic.StoreUint32(&f.a, 1)
	if m, err := r.Recv(ctx, nil); err != nil || !bytes.Equal(m, []byte{16}) {
		t.Fatalf("message 16 = %v, %v", m, err)
	}
	if _, err := r.Recv(ctx, nil); !errors.Is(err, ring.ErrClosed) {
		t.Fatalf("Recv after Close = %v, want ErrClosed", err)
	}
	testutil.WaitAll(t, p)
}

// childPadded sends three messages that its handle pads (every record of
// 64 bytes or more), then exits without closing: a producer that died.
var childPadded = spawn.Register("TestSPSCTakeoverPadded", func(ctx context.Context, c *spawn.Child) error {
	r, err := ring.OpenSPSC(c.Segments()[0], "r")
	if err != nil {
		return err
	}
	ring.SetAlignFrom(r, 64)
	for i, n := range paddedLens {
		if err := r.Send(ctx, bytes.Repeat([]byte{byte(i + 1)}, n)); err != nil {
			return err
		}
	}
	return nil
})

var paddedLens = []int{100, 64, 200}

// TestSPSCTakeoverPadded: a new producer recovers its position by walking
// the committed records from Tail, which may lag; the walk must step over
// each record's pad. Tail is rewound to 0 here, as if the dead producer had
// stored none of it.
func TestSPSCTakeoverPadded(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	r, err := ring.NewSPSC(seg, "r", 1024)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitAll(t, testutil.Start(t, childPadded, seg))
	mem, err := seg.Lookup("r", shm.KindSPSC)
	if err != nil {
		t.Fatal(err)
	}
	binary.NativeEndian.PutUint64(mem[ring.SPSCTailOffset:], 0)
	ctx := context.Background()
	if err := r.Send(ctx, []byte("after the takeover")); err != nil {
		t.Fatal(err)
	}
	for i, n := range paddedLens {
		if m, err := r.Recv(ctx, nil); err != nil || !bytes.Equal(m, bytes.Repeat([]byte{byte(i + 1)}, n)) {
			t.Fatalf("message %d: %d bytes, %v", i, len(m), err)
		}
	}
	if m, err := r.Recv(ctx, nil); err != nil || string(m) != "after the takeover" {
		t.Fatalf("the new producer's message = %q, %v", m, err)
	}
}

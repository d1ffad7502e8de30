//go:build linux

package ring_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

// echo sends back every message conn receives, until EOF.
func echo(ctx context.Context, conn *ring.Conn) error {
	var buf []byte
	for {
		var err error
		buf, err = conn.Recv(ctx, buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := conn.Send(ctx, buf); err != nil {
			return err
		}
	}
}

// childPipe opens end 1 and acts per args[0]:
//
//	echo    sends back every message until EOF
//	hold    raises flag a and waits to be killed
//	send2   sends two messages, raises flag a, waits to be killed
//	send2-close  sends two messages, closes its end, raises flag a, waits
//	sha     reads the byte stream to EOF and sends back its SHA-256
//	open    reports in flag b whether OpenPipe returned ErrBusy
var childPipe = spawn.Register("TestPipe", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	f, err := openFlags(seg)
	if err != nil {
		return err
	}
	conn, err := ring.OpenPipe(seg, "p")
	if c.Args()[0] == "open" {
		if errors.Is(err, ring.ErrBusy) {
			atomic.StoreUint32(&f.b, 1)
			return nil
		}
		return fmt.Errorf("OpenPipe = %v, want ErrBusy", err)
	}
	if err != nil {
		return err
	}
	if conn.End() != 1 {
		return fmt.Errorf("OpenPipe gave end %d", conn.End())
	}
	switch c.Args()[0] {
	case "echo":
		return echo(ctx, conn)
	case "send2", "send2-close":
		conn.Send(ctx, []byte("one"))
		conn.Send(ctx, []byte("two"))
		if c.Args()[0] == "send2-close" {
			conn.Close()
		}
	case "sha":
		h := sha256.New()
		if _, err := io.Copy(h, conn); err != nil {
			return err
		}
		return conn.Send(ctx, h.Sum(nil))
	}
	atomic.StoreUint32(&f.a, 1)
	<-ctx.Done()
	return nil
})

func newPipe(t *testing.T, capacity int) (*shm.Segment, *ring.Conn, *flags) {
	seg := testutil.Segment(t, 4<<20)
	conn, err := ring.NewPipe(seg, "p", capacity)
	if err != nil {
		t.Fatal(err)
	}
	if conn.End() != 0 {
		t.Fatalf("NewPipe gave end %d", conn.End())
	}
	return seg, conn, newFlags(t, seg)
}

func TestPipeEcho(t *testing.T) {
	seg, conn, _ := newPipe(t, 4096)
	p := testutil.Start(t, childPipe, seg, "echo")
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	var buf []byte
	for i := 0; i < testutil.Size(20_000, 10); i++ {
		msg := bytes.Repeat([]byte{byte(i)}, rng.IntN(conn.MaxMessage()+1))
		if err := conn.Send(ctx, msg); err != nil {
			t.Fatal(err)
		}
		var err error
		if buf, err = conn.Recv(ctx, buf); err != nil || !bytes.Equal(buf, msg) {
			t.Fatalf("echo %d: %d bytes, %v; sent %d", i, len(buf), err, len(msg))
		}
	}
	conn.Close()
	testutil.WaitAll(t, p) // the child saw io.EOF and exited 0
}

func TestPipeEnds(t *testing.T) {
	seg, conn, f := newPipe(t, 1024)
	holder := testutil.Start(t, childPipe, seg, "hold")
	testutil.WaitFor(t, testutil.Timeout, "the child to open end 1", func() bool { return atomic.LoadUint32(&f.a) == 1 })
	// A third opener, in this process or another, is refused.
	if _, err := ring.OpenPipe(seg, "p"); !errors.Is(err, ring.ErrBusy) {
		t.Fatalf("OpenPipe while end 1 is held = %v, want ErrBusy", err)
	}
	testutil.WaitAll(t, testutil.Start(t, childPipe, seg, "open"))
	if atomic.LoadUint32(&f.b) != 1 {
		t.Fatal("third opener in another process not refused")
	}
	// Once the holder dies, end 1 can be opened again.
	holder.Kill()
	holder.Wait()
	end1, err := ring.OpenPipe(seg, "p")
	if err != nil {
		t.Fatalf("OpenPipe after the holder died: %v", err)
	}
	// Both ends in one process work too.
	ctx := context.Background()
	conn.Send(ctx, []byte("to 1"))
	end1.Send(ctx, []byte("to 0"))
	if m, err := end1.Recv(ctx, nil); err != nil || string(m) != "to 1" {
		t.Fatalf("end 1 got %q, %v", m, err)
	}
	if m, err := conn.Recv(ctx, nil); err != nil || string(m) != "to 0" {
		t.Fatalf("end 0 got %q, %v", m, err)
	}
	if _, err := ring.OpenSPSC(seg, "p"); !errors.Is(err, shm.ErrWrongKind) {
		t.Fatalf("OpenSPSC of a pipe = %v, want ErrWrongKind", err)
	}
}

func TestPipeClose(t *testing.T) {
	seg, conn, _ := newPipe(t, 1024)
	end1, err := ring.OpenPipe(seg, "p")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn.Send(ctx, []byte("a"))
	conn.Send(ctx, []byte("b"))
	conn.Close()
	for _, want := range []string{"a", "b"} {
		if m, err := end1.Recv(ctx, nil); err != nil || string(m) != want {
			t.Fatalf("Recv = %q, %v", m, err)
		}
	}
	if _, err := end1.Recv(ctx, nil); err != io.EOF {
		t.Fatalf("Recv after the other end closed = %v, want io.EOF itself", err)
	}
	if _, _, err := end1.TryRecv(nil); err != io.EOF {
		t.Fatalf("TryRecv after close = %v, want io.EOF", err)
	}
	if err := end1.Send(ctx, []byte("c")); !errors.Is(err, ring.ErrClosed) {
		t.Fatalf("Send to a closed end = %v, want ErrClosed", err)
	}
}

// TestPipeTryAndCancel: TryRecv on empty and TrySend on full, blocking
// calls cancelled while asleep, and a Read that leaves a message partly
// read followed by Recv, which goes on with the next whole message; then
// the other process closes its end and this one gets io.EOF itself.
func TestPipeTryAndCancel(t *testing.T) {
	seg, conn, f := newPipe(t, 256)
	ctx := context.Background()
	if m, ok, err := conn.TryRecv(nil); ok || err != nil || len(m) != 0 {
		t.Fatalf("TryRecv on empty = %q, %v, %v; want nothing", m, ok, err)
	}
	err := cancelAsleep(t, "Recv to sleep on the empty pipe", func() bool { return ring.ConnSleeping(conn, true) },
		func(ctx context.Context) error { _, err := conn.Recv(ctx, nil); return err })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Recv on empty, cancelled = %v, want context.Canceled", err)
	}
	// Fill this end's sending ring: nobody reads it yet.
	sent := 0
	for {
		ok, err := conn.TrySend([]byte("0123456789"))
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		sent++
	}
	if sent != 10 { // 24-byte records, less the 8 bytes kept for the next header
		t.Fatalf("a 256-byte ring took %d 10-byte messages, want 10", sent)
	}
	if conn.Len() != 0 {
		t.Fatalf("Len counts the other direction: %d", conn.Len())
	}
	err = cancelAsleep(t, "Send to sleep on the full pipe", func() bool { return ring.ConnSleeping(conn, false) },
		func(ctx context.Context) error { return conn.Send(ctx, []byte("more")) })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send on full, cancelled = %v, want context.Canceled", err)
	}

	p := testutil.Start(t, childPipe, seg, "send2-close")
	testutil.WaitFor(t, testutil.Timeout, "the child to send and close", func() bool { return atomic.LoadUint32(&f.a) == 1 })
	buf := make([]byte, 2)
	if n, err := conn.Read(buf); n != 2 || err != nil || string(buf) != "on" {
		t.Fatalf("Read of 2 bytes = %d, %v, %q; want \"on\"", n, err, buf[:n])
	}
	if m, err := conn.Recv(ctx, nil); err != nil || string(m) != "two" {
		t.Fatalf("Recv after a partial Read = %q, %v; want the next whole message \"two\"", m, err)
	}
	if _, err := conn.Recv(ctx, nil); err != io.EOF {
		t.Fatalf("Recv after the other process closed = %v, want io.EOF itself", err)
	}
	if n, err := conn.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read after the other process closed = %d, %v, want io.EOF itself", n, err)
	}
	if err := conn.Send(ctx, []byte("x")); !errors.Is(err, ring.ErrClosed) {
		t.Fatalf("Send after the other end closed = %v, want ErrClosed", err)
	}
	p.Kill()
	p.Wait()
}

func TestPipePeerDies(t *testing.T) {
	seg, conn, f := newPipe(t, 256)
	p := testutil.Start(t, childPipe, seg, "send2")
	testutil.WaitFor(t, testutil.Timeout, "the child to send", func() bool { return atomic.LoadUint32(&f.a) == 1 })
	p.Kill()
	p.Wait()
	ctx := context.Background()
	for _, want := range []string{"one", "two"} {
		if m, err := conn.Recv(ctx, nil); err != nil || string(m) != want {
			t.Fatalf("Recv = %q, %v", m, err)
		}
	}
	_, err := conn.Recv(ctx, nil)
	if !errors.Is(err, io.EOF) || !errors.Is(err, ring.ErrPeerDied) || !bytes.Contains([]byte(err.Error()), []byte(strconv.Itoa(p.Pid()))) {
		t.Fatalf("Recv after the peer died = %v, want io.EOF and ErrPeerDied naming pid %d", err, p.Pid())
	}
	if err == io.EOF || !strings.Contains(err.Error(), "p/ring1") {
		t.Fatalf("Recv after the peer died = %q, want an error naming the pipe's ring, not io.EOF itself", err)
	}
	// Sending to the dead peer: fine until the ring is full, then ErrPeerDied.
	for {
		err := conn.Send(ctx, []byte("0123456789"))
		if err == nil {
			continue
		}
		if !errors.Is(err, ring.ErrPeerDied) {
			t.Fatalf("Send to a dead peer = %v, want ErrPeerDied", err)
		}
		break
	}
}

func TestPipeStream(t *testing.T) {
	seg, conn, _ := newPipe(t, 64<<10)
	p := testutil.Start(t, childPipe, seg, "sha")
	data := make([]byte, testutil.Size(16<<20, 8))
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	// Writes of odd sizes, some larger than a message.
	for off := 0; off < len(data); {
		n := min(len(data)-off, 1+rng.IntN(200<<10))
		if w, err := conn.Write(data[off : off+n]); err != nil || w != n {
			t.Fatalf("Write = %d, %v", w, err)
		}
		off += n
	}
	conn.CloseWrite()
	want := sha256.Sum256(data)
	got, err := conn.Recv(context.Background(), nil)
	if err != nil || !bytes.Equal(got, want[:]) {
		t.Fatalf("the child hashed the stream to %x (%v), want %x", got, err, want)
	}
	testutil.WaitAll(t, p)
}

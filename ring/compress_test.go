//go:build linux

package ring_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

func TestCompress(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	r, err := ring.NewSPSC(seg, "r", 256<<10)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := ring.Compress(r, ring.CompressOptions{Threshold: 100})
	text := bytes.Repeat([]byte("compressible "), 4000)
	random := make([]byte, 50000)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	for _, tc := range []struct {
		name     string
		msg      []byte
		maxFrame int // the frame the ring carries is at most this long
	}{
		{"small, below the threshold", []byte("tiny"), 5},
		{"empty", nil, 1},
		{"compressible", text, len(text) / 4},
		{"incompressible", random, len(random) + 1},
	} {
		if err := c.Send(ctx, tc.msg); err != nil {
			t.Fatal(err)
		}
		// Look at the frame in the ring, then receive it through c.
		frame, err := r.Peek(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(frame) > tc.maxFrame {
			t.Errorf("%s: %d-byte message became a %d-byte frame, want at most %d", tc.name, len(tc.msg), len(frame), tc.maxFrame)
		}
		got, err := c.Recv(ctx, nil)
		if err != nil || !bytes.Equal(got, tc.msg) {
			t.Fatalf("%s: round trip gave %d bytes, %v", tc.name, len(got), err)
		}
	}
	// TrySend / TryRecv, and Len and Close pass through.
	if ok, err := c.TrySend(text); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if c.Len() != 1 {
		t.Fatalf("Len %d", c.Len())
	}
	if got, ok, err := c.TryRecv(nil); !ok || err != nil || !bytes.Equal(got, text) {
		t.Fatal(ok, err)
	}
	// A frame that was not written by Compress is corrupt.
	r.Send(ctx, []byte{9, 1, 2, 3})
	if _, err := c.Recv(ctx, nil); !errors.Is(err, shm.ErrCorrupt) {
		t.Fatalf("Recv of a bad frame = %v, want ErrCorrupt", err)
	}
	r.Send(ctx, []byte{1, 0xff, 0xff, 0xff})
	if _, err := c.Recv(ctx, nil); !errors.Is(err, shm.ErrCorrupt) {
		t.Fatalf("Recv of a bad S2 frame = %v, want ErrCorrupt", err)
	}
	c.Close()
	if _, err := c.Recv(ctx, nil); !errors.Is(err, ring.ErrClosed) {
		t.Fatalf("Recv after Close = %v", err)
	}
}

// TestCompressMaxMessage: Send refuses a message over MaxMessage, and Recv
// refuses a frame that claims one, before allocating for it.
func TestCompressMaxMessage(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	r, err := ring.NewSPSC(seg, "r", 256<<10)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const max = 10000
	c := ring.Compress(r, ring.CompressOptions{Threshold: 100, MaxMessage: max})
	text := bytes.Repeat([]byte("0123456789"), max/10)
	if err := c.Send(ctx, text); err != nil {
		t.Fatalf("Send of exactly MaxMessage bytes: %v", err)
	}
	if got, err := c.Recv(ctx, nil); err != nil || !bytes.Equal(got, text) {
		t.Fatalf("Recv of exactly MaxMessage bytes: %d bytes, %v", len(got), err)
	}
	over := append(text, '!')
	if err := c.Send(ctx, over); !errors.Is(err, ring.ErrTooLarge) {
		t.Fatalf("Send of MaxMessage+1 bytes = %v, want ErrTooLarge", err)
	}
	if ok, err := c.TrySend(over); ok || !errors.Is(err, ring.ErrTooLarge) {
		t.Fatalf("TrySend of MaxMessage+1 bytes = %v, %v, want ErrTooLarge", ok, err)
	}
	if r.Len() != 0 {
		t.Fatalf("refused messages reached the ring: Len %d", r.Len())
	}

	// Frames written past Compress: one compressed by a sender with a
	// larger MaxMessage, one raw, and one whose S2 header claims 4 GiB
	// (a varint of 0xFFFFFFFF) over a few bytes.
	big := ring.Compress(r, ring.CompressOptions{Threshold: 100, MaxMessage: 2 * max})
	if err := big.Send(ctx, append(text, text...)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Recv(ctx, nil); !errors.Is(err, shm.ErrCorrupt) {
		t.Fatalf("Recv of a compressed frame over MaxMessage = %v, want ErrCorrupt", err)
	}
	if err := r.Send(ctx, append([]byte{0}, over...)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Recv(ctx, nil); !errors.Is(err, shm.ErrCorrupt) {
		t.Fatalf("Recv of a raw frame over MaxMessage = %v, want ErrCorrupt", err)
	}
	d := ring.Compress(r, ring.CompressOptions{}) // the default MaxMessage
	if err := r.Send(ctx, []byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = d.Recv(ctx, nil)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, shm.ErrCorrupt) {
		t.Fatalf("Recv of a frame claiming 4 GiB = %v, want ErrCorrupt", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("Recv of a frame claiming 4 GiB allocated %d bytes", n)
	}
	if r.Len() != 0 {
		t.Fatalf("%d frames left in the ring", r.Len())
	}
}

// FuzzCompressFrame feeds arbitrary frames to a Compress receiver: each
// gives a message of at most MaxMessage bytes or an error matching
// ErrCorrupt, never a panic, and the ring goes on.
func FuzzCompressFrame(f *testing.F) {
	seg := testutil.Segment(f, 1<<20)
	r, err := ring.NewSPSC(seg, "r", 256<<10)
	if err != nil {
		f.Fatal(err)
	}
	const max = 4096
	c := ring.Compress(r, ring.CompressOptions{Threshold: 16, MaxMessage: max})
	f.Add([]byte{0, 'h', 'i'})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add(append([]byte{1}, s2.Encode(nil, bytes.Repeat([]byte("ab"), 3000))...))
	f.Add(append([]byte{1}, s2.Encode(nil, bytes.Repeat([]byte("ab"), 100))...))
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) > r.MaxMessage() {
			return
		}
		if err := r.Send(context.Background(), frame); err != nil {
			t.Fatal(err)
		}
		m, err := c.Recv(context.Background(), nil)
		switch {
		case err != nil && !errors.Is(err, shm.ErrCorrupt):
			t.Fatalf("Recv of frame %x = %v, want a message or ErrCorrupt", frame, err)
		case err == nil && len(m) > max:
			t.Fatalf("Recv of frame %x gave %d bytes, MaxMessage is %d", frame, len(m), max)
		case err == nil && len(frame) > 0 && frame[0] == 0 && !bytes.Equal(m, frame[1:]):
			t.Fatalf("raw frame %x gave %x", frame, m)
		}
		if r.Len() != 0 {
			t.Fatalf("%d frames left in the ring", r.Len())
		}
	})
}

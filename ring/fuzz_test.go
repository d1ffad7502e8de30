//go:build linux

package ring_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

func msgOf(n int, seq byte) []byte {
	m := make([]byte, n)
	for i := range m {
		m[i] = seq + byte(i)
	}
	return m
}

// FuzzSPSC drives an SPSC ring from one goroutine with random sequences of
// every operation and checks each result against a model: a slice of the
// messages that should be queued.
func FuzzSPSC(f *testing.F) {
	f.Add([]byte{0, 10, 1, 0, 200, 0, 255, 1, 1, 1})
	f.Add([]byte{2, 3, 50, 60, 70, 3, 3, 5, 6, 7})
	f.Add([]byte{4, 100, 20, 1, 6, 2, 2, 1, 1, 0, 1})
	f.Add(bytes.Repeat([]byte{0, 250, 0, 37, 1}, 40))
	f.Add(append([]byte{0x80}, bytes.Repeat([]byte{0, 250, 0, 37, 1, 4, 90, 2, 1, 6}, 20)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		seg := testutil.Segment(t, 1<<16)
		r, err := ring.NewSPSC(seg, "r", 512)
		if err != nil {
			t.Fatal(err)
		}
		if len(in) > 0 && in[0]&0x80 != 0 {
			ring.SetAlignFrom(r, 64) // pad records of 64 bytes or more
		}
		var model [][]byte
		seq := byte(0)
		closed := false
		o := testutil.NewFuzzInput(in)
		checkRecv := func(m []byte, ok bool, err error) {
			t.Helper()
			switch {
			case closed && len(model) == 0:
				if !errors.Is(err, ring.ErrClosed) {
					t.Fatalf("receive from a drained closed ring = %v", err)
				}
			case err != nil:
				t.Fatalf("receive: %v", err)
			case !ok && len(model) > 0:
				t.Fatalf("nothing received, %d messages queued", len(model))
			case ok && len(model) == 0:
				t.Fatalf("received %d bytes from an empty ring", len(m))
			case ok && !bytes.Equal(m, model[0]):
				t.Fatalf("received %d bytes, want %d", len(m), len(model[0]))
			case ok:
				model = model[1:]
			}
		}
		for {
			op, more := o.Next()
			if !more {
				break
			}
			switch op % 7 {
			case 0: // TrySend
				n, _ := o.Next()
				msg := msgOf(n*2%(r.MaxMessage()+1), seq)
				ok, err := r.TrySend(msg)
				if closed {
					if ok || !errors.Is(err, ring.ErrClosed) {
						t.Fatalf("TrySend on a closed ring = %v, %v", ok, err)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					model = append(model, msg)
					seq++
				}
			case 1: // TryRecv
				m, ok, err := r.TryRecv(nil)
				checkRecv(m, ok, err)
			case 2: // Reserve, Commit less
				n, _ := o.Next()
				k, _ := o.Next()
				n = n * 2 % (r.MaxMessage() + 1)
				b, err := r.Reserve(testutil.Cancelled, n)
				if closed {
					if !errors.Is(err, ring.ErrClosed) {
						t.Fatalf("Reserve on a closed ring = %v", err)
					}
					continue
				}
				if err != nil {
					if !errors.Is(err, context.Canceled) {
						t.Fatal(err)
					}
					continue // full
				}
				m := n - k%(n+1)
				copy(b, msgOf(m, seq))
				r.Commit(m)
				model = append(model, msgOf(m, seq))
				seq++
			case 3: // SendBatch
				if closed {
					continue
				}
				var batch [][]byte
				for i := 0; i < 3; i++ {
					n, _ := o.Next()
					batch = append(batch, msgOf(n%100, seq+byte(i)))
				}
				before := r.Len()
				err := r.SendBatch(testutil.Cancelled, batch)
				sent := r.Len() - before
				if err != nil && !errors.Is(err, context.Canceled) || err == nil && sent != 3 {
					t.Fatalf("SendBatch = %v, sent %d", err, sent)
				}
				model = append(model, batch[:sent]...)
				seq += 3
			case 4: // Peek, Release
				if len(model) == 0 && !closed {
					continue // Peek would wait
				}
				m, err := r.Peek(context.Background())
				checkRecv(m, err == nil, err)
				if err == nil {
					r.Release()
				}
			case 5: // RecvBatch
				if len(model) == 0 {
					continue
				}
				max, _ := o.Next()
				var got [][]byte
				n, err := r.RecvBatch(context.Background(), max%4, func(m []byte) { got = append(got, append([]byte(nil), m...)) })
				if err != nil || n != len(got) || n == 0 {
					t.Fatalf("RecvBatch = %d, %v", n, err)
				}
				for _, m := range got {
					checkRecv(m, true, nil)
				}
			case 6: // Close (rarely)
				if k, _ := o.Next(); k > 240 {
					r.Close()
					closed = true
				}
			}
			if !closed && r.Len() != len(model) {
				t.Fatalf("Len %d, model holds %d", r.Len(), len(model))
			}
		}
	})
}

// scribble is the peer of FuzzSPSCHostile and FuzzQueueHostile: it writes
// the next 8 input bytes at an input-chosen multiple of 8 in mem.
func scribble(o *testutil.FuzzInput, mem []byte) {
	off, _ := o.Next()
	pos := (off * 8) % (len(mem) - 8)
	for i := 0; i < 8; i++ {
		v, _ := o.Next()
		mem[pos+i] = byte(v)
	}
}

// FuzzSPSCHostile lets a "peer" write arbitrary bytes into an SPSC ring's
// memory between operations: every operation must return an error or a
// result, never panic, read out of bounds or hang.
func FuzzSPSCHostile(f *testing.F) {
	f.Add([]byte{0, 8, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0})
	f.Add([]byte{2, 128, 255, 255, 255, 255, 255, 255, 255, 255})
	// A header at data offset 0 with a pad of 7 words past the end.
	f.Add([]byte{0, 40, 200, 0, 0, 0, 0x1D, 0, 0, 0, 4, 6, 7})
	// Padded records (first byte's high bit), then a scribbled pad.
	f.Add([]byte{0x88, 100, 8, 120, 6, 0, 41, 0, 0, 0, 0, 0x0D, 0, 0, 0, 6, 7})
	f.Fuzz(func(t *testing.T, in []byte) {
		seg := testutil.Segment(t, 1<<16)
		r, err := ring.NewSPSC(seg, "r", 256)
		if err != nil {
			t.Fatal(err)
		}
		if len(in) > 0 && in[0]&0x80 != 0 {
			ring.SetAlignFrom(r, 64) // pad records of 64 bytes or more
		}
		mem, _ := seg.Lookup("r", shm.KindSPSC)
		o := testutil.NewFuzzInput(in)
		for {
			op, more := o.Next()
			if !more {
				break
			}
			switch op % 9 {
			case 0: // the peer scribbles 8 bytes at an offset
				scribble(o, mem)
			case 1:
				r.TrySend(make([]byte, op%40))
			case 2:
				r.TryRecv(nil)
			case 3:
				r.Send(testutil.Cancelled, make([]byte, op%100))
			case 4:
				r.Recv(testutil.Cancelled, nil)
			case 5:
				if _, err := ring.OpenSPSC(seg, "r"); err != nil && !errors.Is(err, shm.ErrCorrupt) {
					t.Fatalf("OpenSPSC = %v", err)
				}
			case 6:
				if _, err := r.Peek(testutil.Cancelled); err == nil {
					r.Release()
				}
			case 7:
				r.RecvBatch(testutil.Cancelled, 0, func([]byte) {})
			case 8:
				if b, err := r.Reserve(testutil.Cancelled, op%200); err == nil {
					r.Commit(len(b))
				}
			}
			_ = r.Len()
		}
	})
}

// FuzzQueueHostile is FuzzSPSCHostile for a Queue.
func FuzzQueueHostile(f *testing.F) {
	f.Add([]byte{1, 1, 1, 2, 2, 0, 3, 9, 9, 9, 9, 9, 9, 9, 9, 2})
	f.Add([]byte{0, 48, 0, 0, 0, 0, 0, 0, 0, 128, 2, 1, 2})
	f.Add([]byte{0, 6, 255, 255, 255, 255, 255, 255, 255, 255, 1, 2})
	f.Fuzz(func(t *testing.T, in []byte) {
		seg := testutil.Segment(t, 1<<16)
		q, err := ring.NewQueue(seg, "q", ring.QueueOptions{Slots: 4, SlotSize: 16})
		if err != nil {
			t.Fatal(err)
		}
		mem, _ := seg.Lookup("q", shm.KindQueue)
		o := testutil.NewFuzzInput(in)
		for {
			op, more := o.Next()
			if !more {
				break
			}
			switch op % 6 {
			case 0:
				scribble(o, mem)
			case 1:
				q.TrySend(make([]byte, op%17))
			case 2:
				q.TryRecv(nil)
			case 3:
				q.Send(testutil.Cancelled, make([]byte, op%17))
			case 4:
				q.Recv(testutil.Cancelled, nil)
			case 5:
				if _, err := ring.OpenQueue(seg, "q"); err != nil && !errors.Is(err, shm.ErrCorrupt) {
					t.Fatalf("OpenQueue = %v", err)
				}
			}
			_ = q.Len()
		}
	})
}

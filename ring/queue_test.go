//go:build linux

package ring_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

// Conservation: 3 producer processes × 3 consumer processes. Each message is
// (producer, seq, check); consumers set one bit per message in a shared
// bitmap (a bit already set is a duplicate) and check per-producer order.

const qProducers, qConsumers = 3, 3

func qMessage(buf []byte, producer, seq uint32) []byte {
	buf = buf[:12+int(seq%20)]
	binary.LittleEndian.PutUint32(buf, producer)
	binary.LittleEndian.PutUint32(buf[4:], seq)
	binary.LittleEndian.PutUint32(buf[8:], producer*2654435761^seq*40503)
	for i := 12; i < len(buf); i++ {
		buf[i] = byte(seq) ^ byte(i)
	}
	return buf
}

var childQProducer = spawn.Register("TestQueueConservation.producer", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	q, err := ring.OpenQueue(seg, "q")
	if err != nil {
		return err
	}
	f, err := openFlags(seg)
	if err != nil {
		return err
	}
	id, _ := strconv.Atoi(c.Args()[0])
	n, _ := strconv.Atoi(c.Args()[1])
	if err := testutil.StartBarrier(&f.a, qProducers+qConsumers); err != nil {
		return err
	}
	buf := make([]byte, 64)
	for seq := 0; seq < n; seq++ {
		m := qMessage(buf, uint32(id), uint32(seq))
		if seq%4 == 3 {
			// TrySend, falling back to Send when full.
			ok, err := q.TrySend(m)
			if err != nil {
				return err
			}
			if ok {
				continue
			}
		}
		if err := q.Send(ctx, m); err != nil {
			return err
		}
	}
	return nil
})

var childQConsumer = spawn.Register("TestQueueConservation.consumer", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	q, err := ring.OpenQueue(seg, "q")
	if err != nil {
		return err
	}
	f, err := openFlags(seg)
	if err != nil {
		return err
	}
	bits, err := shm.OpenBytes(seg, "bits")
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(c.Args()[0])
	if err := testutil.StartBarrier(&f.a, qProducers+qConsumers); err != nil {
		return err
	}
	last := [qProducers]int64{-1, -1, -1}
	var buf []byte
	for {
		buf, err = q.Recv(ctx, buf)
		if errors.Is(err, ring.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(buf) < 12 {
			return fmt.Errorf("%d-byte message", len(buf))
		}
		p, seq := binary.LittleEndian.Uint32(buf), binary.LittleEndian.Uint32(buf[4:])
		if p >= qProducers || int(seq) >= n {
			return fmt.Errorf("message from producer %d, seq %d", p, seq)
		}
		if want := qMessage(make([]byte, 64), p, seq); string(want) != string(buf) {
			return fmt.Errorf("message %d/%d damaged", p, seq)
		}
		if int64(seq) <= last[p] {
			return fmt.Errorf("producer %d: seq %d after %d", p, seq, last[p])
		}
		last[p] = int64(seq)
		bit := uint64(p)*uint64(n) + uint64(seq)
		word := (*uint32)(unsafe.Pointer(&bits[bit/32*4]))
		if old := atomic.OrUint32(word, 1<<(bit%32)); old&(1<<(bit%32)) != 0 {
			atomic.AddInt64(&f.n, 1) // duplicate
		}
	}
})

func TestQueueConservation(t *testing.T) {
	n := testutil.Size(200_000, 10)
	seg := testutil.Segment(t, 8<<20)
	q, err := ring.NewQueue(seg, "q", ring.QueueOptions{Slots: 64, SlotSize: 32})
	if err != nil {
		t.Fatal(err)
	}
	f := newFlags(t, seg)
	bits, err := shm.NewBytes(seg, "bits", (qProducers*n+31)/32*4)
	if err != nil {
		t.Fatal(err)
	}
	consumers := testutil.StartN(t, qConsumers, childQConsumer, seg, strconv.Itoa(n))
	var producers []*spawn.Process
	for i := 0; i < qProducers; i++ {
		producers = append(producers, testutil.Start(t, childQProducer, seg, strconv.Itoa(i), strconv.Itoa(n)))
	}
	testutil.WaitAll(t, producers...)
	q.Close()
	testutil.WaitAll(t, consumers...)
	if dups := atomic.LoadInt64(&f.n); dups != 0 {
		t.Fatalf("%d messages received twice", dups)
	}
	missing := 0
	for i := 0; i < qProducers*n; i++ {
		if bits[i/8]&(1<<(i%8)) == 0 {
			missing++
		}
	}
	if missing != 0 {
		t.Fatalf("%d of %d messages never received", missing, qProducers*n)
	}
	if q.Len() != 0 || q.Lost() != 0 {
		t.Fatalf("Len %d, Lost %d after draining", q.Len(), q.Lost())
	}
}

func TestQueueBasics(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	q, err := ring.NewQueue(seg, "q", ring.QueueOptions{Slots: 3, SlotSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if q.Cap() != 4 || q.SlotSize() != 10 {
		t.Fatalf("Cap %d SlotSize %d", q.Cap(), q.SlotSize())
	}
	ctx := context.Background()
	if _, ok, err := q.TryRecv(nil); ok || err != nil {
		t.Fatalf("TryRecv on empty = %v, %v", ok, err)
	}
	for i := 0; i < 4; i++ {
		if ok, err := q.TrySend([]byte(strconv.Itoa(i))); !ok || err != nil {
			t.Fatalf("TrySend %d = %v, %v", i, ok, err)
		}
	}
	if ok, err := q.TrySend([]byte("x")); ok || err != nil {
		t.Fatalf("TrySend on full = %v, %v", ok, err)
	}
	if q.Len() != 4 {
		t.Fatalf("Len %d", q.Len())
	}
	// Cancelled while asleep on full, and on empty below.
	err = cancelAsleep(t, "Send to sleep on the full queue", func() bool { return ring.QueueSleeping(q, false) },
		func(ctx context.Context) error { return q.Send(ctx, []byte("x")) })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send on full, cancelled = %v, want context.Canceled", err)
	}
	for i := 0; i < 4; i++ {
		if m, err := q.Recv(ctx, nil); err != nil || string(m) != strconv.Itoa(i) {
			t.Fatalf("Recv %d = %q, %v", i, m, err)
		}
	}
	err = cancelAsleep(t, "Recv to sleep on the empty queue", func() bool { return ring.QueueSleeping(q, true) },
		func(ctx context.Context) error { _, err := q.Recv(ctx, nil); return err })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Recv on empty, cancelled = %v, want context.Canceled", err)
	}
	for _, m := range []string{"", "0123456789"} {
		if err := q.Send(ctx, []byte(m)); err != nil {
			t.Fatal(err)
		}
		if got, err := q.Recv(ctx, nil); err != nil || string(got) != m {
			t.Fatalf("Recv = %q, %v, want %q", got, err, m)
		}
	}
	if err := q.Send(ctx, make([]byte, 11)); !errors.Is(err, ring.ErrTooLarge) {
		t.Fatalf("Send of 11 bytes into 10-byte slots = %v, want ErrTooLarge", err)
	}
	// Close: drain, then ErrClosed; sends fail.
	q.Send(ctx, []byte("last"))
	q.Close()
	if err := q.Send(ctx, []byte("late")); !errors.Is(err, ring.ErrClosed) {
		t.Fatalf("Send after Close = %v", err)
	}
	if m, err := q.Recv(ctx, nil); string(m) != "last" || err != nil {
		t.Fatalf("Recv after Close = %q, %v", m, err)
	}
	if _, err := q.Recv(ctx, nil); !errors.Is(err, ring.ErrClosed) {
		t.Fatalf("Recv of a drained closed queue = %v", err)
	}
	if _, err := ring.NewQueue(seg, "big", ring.QueueOptions{Slots: 1 << 20, SlotSize: 1 << 20}); !errors.Is(err, shm.ErrNoSpace) {
		t.Fatalf("NewQueue larger than the segment = %v, want ErrNoSpace", err)
	}
	if _, err := ring.NewQueue(seg, "neg", ring.QueueOptions{Slots: -1}); err == nil {
		t.Fatal("NewQueue with -1 slots succeeded")
	}
}

// largeMessage is message i of TestQueueLargeSlots: each size on both sides
// of AlignFrom in turn, filled with a pattern of i and the offset.
func largeMessage(i int) []byte {
	sizes := []int{ring.AlignFrom, 0, ring.AlignFrom - 1, 1, 64 << 10, ring.AlignFrom - 40}
	m := make([]byte, sizes[i%len(sizes)])
	for k := range m {
		m[k] = byte(i*131 + k*7 + k>>8)
	}
	return m
}

var childLargeQProducer = spawn.Register("TestQueueLargeSlots.producer", func(ctx context.Context, c *spawn.Child) error {
	q, err := ring.OpenQueue(c.Segments()[0], "q")
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(c.Args()[0])
	for i := 0; i < n; i++ {
		if err := q.Send(ctx, largeMessage(i)); err != nil {
			return err
		}
	}
	return nil
})

// TestQueueLargeSlots: with a SlotSize of AlignFrom, a message starts at
// byte 64 of its slot (docs/layout.md, layout version 3), and messages of
// every size up to the slot size cross between processes intact through
// a queue that wraps many times.
func TestQueueLargeSlots(t *testing.T) {
	const slots = 4
	seg := testutil.Segment(t, 8<<20)
	q, err := ring.NewQueue(seg, "q", ring.QueueOptions{Slots: slots, SlotSize: ring.AlignFrom})
	if err != nil {
		t.Fatal(err)
	}
	mem, err := seg.Lookup("q", shm.KindQueue)
	if err != nil {
		t.Fatal(err)
	}
	const stride = ring.AlignFrom + 64 // ceil64(64 + slot_size)
	if want := ring.QueueHeaderSize + slots*stride; len(mem) != want {
		t.Fatalf("queue object is %d bytes, want %d: 4 slots of %d", len(mem), want, stride)
	}
	// Where the bytes land: slot 0 holds message 0 from byte 64 on, its
	// length at byte 16.
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
	defer cancel()
	first := largeMessage(0)
	if err := q.Send(ctx, first); err != nil {
		t.Fatal(err)
	}
	slot := mem[ring.QueueHeaderSize : ring.QueueHeaderSize+stride]
	if n := binary.NativeEndian.Uint32(slot[16:]); int(n) != len(first) {
		t.Fatalf("slot 0 length field %d, want %d", n, len(first))
	}
	if !bytes.Equal(slot[64:64+len(first)], first) {
		t.Fatal("slot 0 does not hold message 0 from byte 64")
	}
	if m, err := q.Recv(ctx, nil); err != nil || !bytes.Equal(m, first) {
		t.Fatalf("Recv of message 0: %d bytes, %v", len(m), err)
	}
	n := testutil.Size(60, 12)
	p := testutil.Start(t, childLargeQProducer, seg, strconv.Itoa(n))
	var buf []byte
	for i := 0; i < n; i++ {
		if buf, err = q.Recv(ctx, buf); err != nil {
			t.Fatalf("Recv of message %d: %v", i, err)
		}
		if want := largeMessage(i); !bytes.Equal(buf, want) {
			t.Fatalf("message %d: %d bytes, want %d, or different contents", i, len(buf), len(want))
		}
	}
	testutil.WaitAll(t, p)
	// A slot one byte smaller keeps the message right after the header.
	small, err := ring.NewQueue(seg, "small", ring.QueueOptions{Slots: 1, SlotSize: ring.AlignFrom - 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := small.Send(ctx, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	smem, err := seg.Lookup("small", shm.KindQueue)
	if err != nil {
		t.Fatal(err)
	}
	if want := ring.QueueHeaderSize + (24+ring.AlignFrom-1+63)&^63; len(smem) != want { // ceil64(24 + slot_size)
		t.Fatalf("queue of one %d-byte slot is %d bytes", ring.AlignFrom-1, len(smem))
	}
	if got := string(smem[ring.QueueHeaderSize+24 : ring.QueueHeaderSize+27]); got != "abc" {
		t.Fatalf("a %d-byte slot holds %q at byte 24, want the message", ring.AlignFrom-1, got)
	}
	// A slot 8 bytes larger takes one more cache line: the message at byte
	// 64 needs ceil64(64 + slot_size) bytes, where after the 24-byte
	// header the old stride would have held it.
	wide, err := ring.NewQueue(seg, "wide", ring.QueueOptions{Slots: 1, SlotSize: ring.AlignFrom + 8})
	if err != nil {
		t.Fatal(err)
	}
	wmem, err := seg.Lookup("wide", shm.KindQueue)
	if err != nil {
		t.Fatal(err)
	}
	if want := ring.QueueHeaderSize + ring.AlignFrom + 128; len(wmem) != want {
		t.Fatalf("queue of one %d-byte slot is %d bytes, want %d", ring.AlignFrom+8, len(wmem), want)
	}
	full := bytes.Repeat([]byte{0xA5}, ring.AlignFrom+8)
	if err := wide.Send(ctx, full); err != nil {
		t.Fatal(err)
	}
	if got, err := wide.Recv(ctx, nil); err != nil || !bytes.Equal(got, full) {
		t.Fatalf("a full %d-byte slot: %d bytes back, %v", ring.AlignFrom+8, len(got), err)
	}
	// That slot size in the first queue's stride would fit after a 24-byte
	// header but not at byte 64: the header is refused.
	binary.NativeEndian.PutUint32(mem[8:], ring.AlignFrom+8)
	if _, err := ring.OpenQueue(seg, "q"); !errors.Is(err, shm.ErrCorrupt) || !strings.Contains(err.Error(), "stride") {
		t.Fatalf("OpenQueue with slot_size %d in a %d-byte stride: %v, want ErrCorrupt naming the stride", ring.AlignFrom+8, stride, err)
	}
}

// childQBlock opens queue args[1] and, per args[0], sends to it ("send":
// the test has filled it; first a message too large for it, which must
// fail at once) or receives from it ("recv": the test left it empty). The
// call must block until the test closes the queue, and then
// fail with ErrClosed.
var childQBlock = spawn.Register("TestQueueCloseWakesWaiters", func(ctx context.Context, c *spawn.Child) error {
	q, err := ring.OpenQueue(c.Segments()[0], c.Args()[1])
	if err != nil {
		return err
	}
	if c.Args()[0] == "send" {
		if err := q.Send(ctx, make([]byte, q.SlotSize()+1)); !errors.Is(err, ring.ErrTooLarge) {
			return fmt.Errorf("Send of SlotSize+1 bytes to a full queue = %v, want ErrTooLarge at once", err)
		}
		err = q.Send(ctx, []byte("y"))
	} else {
		_, err = q.Recv(ctx, nil)
	}
	if !errors.Is(err, ring.ErrClosed) {
		return fmt.Errorf("blocked %s after Close = %v, want ErrClosed", c.Args()[0], err)
	}
	return nil
})

// TestQueueCloseWakesWaiters: a producer asleep on a full queue and a
// consumer asleep on an empty one, in other processes, both return
// ErrClosed when the queue closes.
func TestQueueCloseWakesWaiters(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	full, _ := ring.NewQueue(seg, "full", ring.QueueOptions{Slots: 1, SlotSize: 8})
	empty, _ := ring.NewQueue(seg, "empty", ring.QueueOptions{Slots: 1, SlotSize: 8})
	if err := full.Send(context.Background(), []byte("x")); err != nil {
		t.Fatal(err)
	}
	sender := testutil.Start(t, childQBlock, seg, "send", "full")
	receiver := testutil.Start(t, childQBlock, seg, "recv", "empty")
	testutil.WaitFor(t, testutil.Timeout, "the sender to sleep on the full queue", func() bool { return ring.QueueSleeping(full, false) })
	testutil.WaitFor(t, testutil.Timeout, "the receiver to sleep on the empty queue", func() bool { return ring.QueueSleeping(empty, true) })
	full.Close()
	empty.Close()
	testutil.WaitAll(t, sender, receiver)
	// The message sent before Close is still received, then ErrClosed.
	if m, err := full.Recv(context.Background(), nil); err != nil || string(m) != "x" {
		t.Fatalf("Recv after Close = %q, %v; want the message sent before it", m, err)
	}
	if _, err := full.Recv(context.Background(), nil); !errors.Is(err, ring.ErrClosed) {
		t.Fatalf("Recv of a drained, closed queue = %v, want ErrClosed", err)
	}
}

// Close racing with producers in other processes: every Send that returned
// nil is received, and nothing else.
var childCloseRace = spawn.Register("TestQueueCloseRace", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	q, err := ring.OpenQueue(seg, "q")
	if err != nil {
		return err
	}
	f, err := openFlags(seg)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				err := q.Send(ctx, []byte("m"))
				if errors.Is(err, ring.ErrClosed) {
					return
				}
				if err != nil {
					panic(err)
				}
				atomic.AddInt64(&f.n, 1)
				atomic.StoreUint32(&f.a, 1)
			}
		}()
	}
	wg.Wait()
	return nil
})

func TestQueueCloseRace(t *testing.T) {
	for round := 0; round < testutil.Size(20, 4); round++ {
		seg := testutil.Segment(t, 1<<20)
		q, _ := ring.NewQueue(seg, "q", ring.QueueOptions{Slots: 8, SlotSize: 8})
		f := newFlags(t, seg)
		ps := testutil.StartN(t, 2, childCloseRace, seg)
		received := int64(0)
		testutil.WaitFor(t, testutil.Timeout, "the producers to send", func() bool { return atomic.LoadUint32(&f.a) == 1 })
		for i := 0; i < 50+round*13; i++ {
			if _, err := q.Recv(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			received++
		}
		q.Close()
		for {
			_, err := q.Recv(context.Background(), nil)
			if errors.Is(err, ring.ErrClosed) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			received++
		}
		testutil.WaitAll(t, ps...)
		if sent := atomic.LoadInt64(&f.n); sent != received {
			t.Fatalf("round %d: %d sends succeeded, %d messages received", round, sent, received)
		}
		seg.Close()
	}
}

// ---- SIGKILL between claim and publish ----

// childQCrash sends (or receives) args[1] messages normally, then claims one
// more slot and stops there, raising flag a, until it is killed; with
// args[2] "before-record" it stops before storing its claim record.
var childQCrash = spawn.Register("TestQueueCrash", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	q, err := ring.OpenQueue(seg, "q")
	if err != nil {
		return err
	}
	f, err := openFlags(seg)
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(c.Args()[1])
	for i := 0; i < n; i++ {
		if c.Args()[0] == "producer" {
			err = q.Send(ctx, []byte(fmt.Sprintf("dead %d", i)))
		} else {
			_, err = q.Recv(ctx, nil)
		}
		if err != nil {
			return err
		}
	}
	stop := func(bool) {
		atomic.StoreUint32(&f.a, 1)
		<-ctx.Done() // killed here, holding the slot
	}
	if len(c.Args()) > 2 && c.Args()[2] == "before-record" {
		ring.SetRecordHook(q, stop)
	} else {
		ring.SetClaimHook(q, stop)
	}
	if c.Args()[0] == "producer" {
		q.Send(ctx, []byte("never"))
	} else {
		q.Recv(ctx, nil)
	}
	return errors.New("not killed")
})

// crashQueue returns a queue of 8 slots of 16 bytes, as the crash tests
// use, and the flags its childQCrash processes report on.
func crashQueue(t *testing.T) (*shm.Segment, *ring.Queue, *flags) {
	seg := testutil.Segment(t, 1<<20)
	q, err := ring.NewQueue(seg, "q", ring.QueueOptions{Slots: 8, SlotSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	return seg, q, newFlags(t, seg)
}

// killMidway starts childQCrash with args, waits until it reports that it
// has stopped where the test hook holds it (what it waits for, in words),
// and kills it with SIGKILL.
func killMidway(t *testing.T, seg *shm.Segment, f *flags, what string, args ...string) {
	p := testutil.Start(t, childQCrash, seg, args...)
	testutil.WaitFor(t, testutil.Timeout, what, func() bool { return atomic.LoadUint32(&f.a) == 1 })
	p.Kill()
	p.Wait()
}

// TestQueueProducerKilledMidSend: a producer killed holding a claimed slot,
// after storing its claim record (its start time) or before: consumers
// waiting at the slot find the claimer dead (by pid and start time, or by
// pid alone) and skip it, losing only that message.
func TestQueueProducerKilledMidSend(t *testing.T) {
	for _, when := range []string{"after-record", "before-record"} {
		t.Run(when, func(t *testing.T) {
			seg, q, f := crashQueue(t)
			killMidway(t, seg, f, "the producer to stop mid-send", "producer", "3", when)
			// Others carry on: 20 more messages (over two laps of the slots).
			go func() {
				for i := 0; i < 20; i++ {
					q.Send(context.Background(), []byte(fmt.Sprintf("live %d", i)))
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
			defer cancel()
			var got []string
			for len(got) < 23 {
				m, err := q.Recv(ctx, nil)
				if err != nil {
					t.Fatalf("Recv after %q: %v (the dead producer's slot was not skipped)", got, err)
				}
				got = append(got, string(m))
			}
			want := []string{"dead 0", "dead 1", "dead 2"}
			for i := 0; i < 20; i++ {
				want = append(want, fmt.Sprintf("live %d", i))
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("received %v\nwant     %v", got, want)
			}
			if q.Lost() != 1 {
				t.Fatalf("Lost = %d, want 1 (the message the killed producer held)", q.Lost())
			}
		})
	}
}

// TestQueueProducerRecoversDeadWriter: the consumer stops at the position a
// killed producer claimed, so a producer lapping round recovers the slot;
// the consumer must then find DequeuePos moved past it.
func TestQueueProducerRecoversDeadWriter(t *testing.T) {
	seg, q, f := crashQueue(t)
	killMidway(t, seg, f, "the producer to stop mid-send", "producer", "3")
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if m, err := q.Recv(ctx, nil); err != nil || string(m) != fmt.Sprintf("dead %d", i) {
			t.Fatalf("Recv = %q, %v", m, err)
		}
	}
	// Positions 4..11: the last laps round to the dead producer's slot,
	// which this (producing) goroutine must recover.
	for i := 0; i < 8; i++ {
		if err := q.Send(ctx, []byte(fmt.Sprintf("live %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 8; i++ {
		if m, err := q.Recv(ctx, nil); err != nil || string(m) != fmt.Sprintf("live %d", i) {
			t.Fatalf("message %d = %q, %v", i, m, err)
		}
	}
	if q.Lost() != 1 {
		t.Fatalf("Lost = %d, want 1", q.Lost())
	}
}

func TestQueueConsumerKilledMidRecv(t *testing.T) {
	seg, q, f := crashQueue(t)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		q.Send(ctx, []byte(fmt.Sprintf("early %d", i)))
	}
	q.Send(ctx, []byte("victim"))
	killMidway(t, seg, f, "the consumer to stop mid-receive", "consumer", "3")
	// Producers lap the slots: the dead consumer's slot must be freed.
	go func() {
		for i := 0; i < 20; i++ {
			q.Send(ctx, []byte(fmt.Sprintf("live %d", i)))
		}
	}()
	for i := 0; i < 20; i++ {
		m, err := q.Recv(ctx, nil)
		if err != nil || string(m) != fmt.Sprintf("live %d", i) {
			t.Fatalf("message %d = %q, %v", i, m, err)
		}
	}
	if q.Lost() != 1 {
		t.Fatalf("Lost = %d, want 1 (the message the killed consumer held)", q.Lost())
	}
}

func TestQueueCorrupt(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	q, err := ring.NewQueue(seg, "q", ring.QueueOptions{Slots: 4, SlotSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	mem, _ := seg.Lookup("q", shm.KindQueue)
	q.Send(context.Background(), []byte("hello"))
	// Slot 0's length claims more than a slot holds.
	binary.NativeEndian.PutUint32(mem[ring.QueueHeaderSize+16:], 1000)
	if _, err := q.Recv(context.Background(), nil); !errors.Is(err, shm.ErrCorrupt) || !strings.Contains(err.Error(), "1000-byte message") {
		t.Fatalf("Recv of a damaged slot = %v, want ErrCorrupt", err)
	}
	// The queue goes on past it.
	q.Send(context.Background(), []byte("next"))
	if m, err := q.Recv(context.Background(), nil); err != nil || string(m) != "next" {
		t.Fatalf("Recv after the damaged slot = %q, %v", m, err)
	}
	for _, tc := range []struct {
		off  int
		val  uint32
		want string
	}{
		{0, 0, "magic"},
		{4, 3, "slots"},
		{4, 1 << 20, "slots"},
		{8, 0, "slot_size"},
		{12, 40, "stride"},
	} {
		saved := binary.NativeEndian.Uint32(mem[tc.off:])
		binary.NativeEndian.PutUint32(mem[tc.off:], tc.val)
		if _, err := ring.OpenQueue(seg, "q"); !errors.Is(err, shm.ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("OpenQueue with word %d = %d: %v, want ErrCorrupt naming %s", tc.off, tc.val, err, tc.want)
		}
		binary.NativeEndian.PutUint32(mem[tc.off:], saved)
	}
}

// TestQueueLiveReaderNotTakenForDead: a consumer that has claimed a slot
// but not yet stored its claim record leaves the slot holding the record
// of the producer that wrote the same position. A producer lapping round to
// the slot must not read that record as the consumer's (whose start time
// would then not match, making a live consumer look dead): the slot stays
// the consumer's, nothing is counted lost. Once the consumer really dies,
// the slot is recovered and counted.
func TestQueueLiveReaderNotTakenForDead(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	q, err := ring.NewQueue(seg, "q", ring.QueueOptions{Slots: 2, SlotSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	f := newFlags(t, seg)
	ctx := context.Background()
	for i := 0; i < 2; i++ { // fill the queue
		if err := q.Send(ctx, []byte(fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	// Start times count clock ticks, and the consumer may start within the
	// tick this process started in: make slot 0's record that of a producer
	// that started at another time, as a long-running one would leave it.
	mem, err := seg.Lookup("q", shm.KindQueue)
	if err != nil {
		t.Fatal(err)
	}
	record := (*uint64)(unsafe.Pointer(&mem[ring.QueueHeaderSize+8]))
	atomic.StoreUint64(record, atomic.LoadUint64(record)^0x5A5A<<32)
	p := testutil.Start(t, childQCrash, seg, "consumer", "0", "before-record")
	testutil.WaitFor(t, testutil.Timeout, "the consumer to claim slot 0", func() bool { return atomic.LoadUint32(&f.a) == 1 })

	// Full: this Send waits for slot 0 and, every 25 ms of sleep, checks
	// its claimer. The claimer is alive, so the Send must time out.
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := q.Send(tctx, []byte("m2")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send while a live consumer holds the slot = %v, want DeadlineExceeded", err)
	}
	if n := q.Lost(); n != 0 {
		t.Fatalf("Lost = %d while the consumer lives, want 0: a live reader was taken for dead", n)
	}

	p.Kill()
	p.Wait()
	if err := q.Send(ctx, []byte("m2")); err != nil {
		t.Fatalf("Send after the consumer died = %v, want the slot recovered", err)
	}
	if n := q.Lost(); n != 1 {
		t.Fatalf("Lost = %d after the consumer died holding m0, want 1", n)
	}
	for _, want := range []string{"m1", "m2"} {
		if m, err := q.Recv(ctx, nil); err != nil || string(m) != want {
			t.Fatalf("Recv = %q, %v; want %q", m, err, want)
		}
	}
}

package ring

import (
	"context"
	"fmt"
	"math/bits"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/fence"
	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/prefetch"
	"github.com/shmkit/shmkit/internal/proc"
	"github.com/shmkit/shmkit/internal/spin"
	"github.com/shmkit/shmkit/shm"
)

// QueueOptions configures a new Queue. The zero value means the defaults.
type QueueOptions struct {
	// Slots is the number of messages the queue holds, rounded up to a
	// power of two. Zero means 1024.
	Slots int

	// SlotSize is the largest message in bytes. Zero means 256.
	SlotSize int
}

// queueHeader documents the header of a Queue; the offQ* constants are its
// offsets and a test keeps them in agreement. The slots follow it.
type queueHeader struct {
	// Line 0: written at creation and on close.
	Magic    uint32 // queueMagic
	Slots    uint32 // a power of two
	SlotSize uint32 // largest message, bytes
	Stride   uint32 // bytes per slot: a multiple of 64
	Closed   uint32 // 1 once closed for sending
	_        [44]byte
	// Line 1: producers claim positions here.
	EnqueuePos uint64
	_          [56]byte
	// Line 2: consumers claim positions here.
	DequeuePos uint64
	_          [56]byte
	// Line 3: consumers wait here for messages.
	NotEmptySeq  uint32
	NotEmptyWait uint32
	_            [56]byte
	// Line 4: producers wait here for free slots.
	NotFullSeq  uint32
	NotFullWait uint32
	_           [56]byte
	// Line 5: counters of messages lost to dead processes.
	Lost uint64
	_    [56]byte
}

// slotHeader documents the header of each slot. The message follows it, at
// slotPayload(SlotSize).
type slotHeader struct {
	State  uint64 // pos (low 32 bits) << 32 | state << 30 | pid
	Detail uint64 // claimer's start time (low 32 bits) << 32 | pos (low 32 bits; a reader's with bit 31 flipped)
	Len    uint32 // message length, or voidLen
	_      uint32
}

const (
	queueMagic = 0x4D504D43 // "MPMC"

	offQMagic        = 0
	offQSlots        = 4
	offQSlotSize     = 8
	offQStride       = 12
	offQClosed       = 16
	offQEnqueuePos   = 64
	offQDequeuePos   = 128
	offQNotEmptySeq  = 192
	offQNotEmptyWait = 196
	offQNotFullSeq   = 256
	offQNotFullWait  = 260
	offQLost         = 320
	queueHeaderSize  = 384

	offSlotState  = 0
	offSlotDetail = 8
	offSlotLen    = 16
	slotHeaderLen = 24
	// slotLinePayload is where the message starts in slots of AlignFrom
	// bytes or more: on the slot's second cache line.
	slotLinePayload = 64

	// readerMark is XORed into the position of a reader's claim record, so
	// that it never equals the writer's record of the same position.
	readerMark = 1 << 31

	// voidLen marks a slot whose producer found the queue closed after
	// claiming it: consumers skip it.
	voidLen = ^uint32(0)

	// MaxSlotSize is the largest SlotSize.
	MaxSlotSize = 1 << 30
	// MaxSlots is the largest number of slots.
	MaxSlots = 1 << 30
)

// Slot states (bits 31..30 of the state word).
const (
	slotFree    = 0 // producers may write the slot's position
	slotWriting = 1 // a producer (pid in bits 29..0) is writing
	slotReady   = 2 // the message is complete
	slotReading = 3 // a consumer (pid) is reading
)

// slotPayload returns the offset of the message in a slot for messages of
// up to slotSize bytes: right after the slot header, or, from AlignFrom
// bytes, on the next cache line, where Go's copy of a large message runs
// at full speed (see AlignFrom).
func slotPayload(slotSize uint64) uint64 {
	if slotSize >= AlignFrom {
		return slotLinePayload
	}
	return slotHeaderLen
}

func slotWord(pos uint64, state uint64, pid int) uint64 {
	return uint64(uint32(pos))<<32 | state<<30 | uint64(pid)&(1<<30-1)
}

func slotPos(w uint64) uint32   { return uint32(w >> 32) }
func slotState(w uint64) uint64 { return (w >> 30) & 3 }
func slotPid(w uint64) int      { return int(w & (1<<30 - 1)) }

// Queue is a bounded queue of messages of up to SlotSize bytes, for any
// number of producers and consumers in any number of processes. Its methods
// are safe for concurrent use. Make one with NewQueue or OpenQueue.
type Queue struct {
	_ layout.NoCopy

	seg, name string
	slots     []byte
	n         uint64 // slots
	mask      uint64
	slotSize  int
	stride    uint64
	payload   uint64 // slotPayload(slotSize)

	closed     *uint32
	enqPos     *uint64
	deqPos     *uint64
	lost       *uint64
	notEmpty   sleeper
	notFull    sleeper
	sendSpin   spin.Budget
	recvSpin   spin.Budget
	pid        int
	detailSelf uint64 // proc.Self().Start() << 32

	// claimHook, when set (tests), runs after a slot is claimed and before
	// its message is written or read; recordHook runs between the claim and
	// the store of the claim record.
	claimHook  func(writing bool)
	recordHook func(writing bool)
}

// NewQueue creates a Queue called name in seg.
func NewQueue(seg *shm.Segment, name string, opt QueueOptions) (*Queue, error) {
	fail := func(err error) (*Queue, error) {
		return nil, &shm.Error{Op: "new queue", Segment: seg.Name(), Object: name, Offset: -1, Err: err}
	}
	slots, slotSize := opt.Slots, opt.SlotSize
	if slots == 0 {
		slots = 1024
	}
	if slotSize == 0 {
		slotSize = 256
	}
	if slots < 1 || slots > MaxSlots {
		return fail(fmt.Errorf("%d slots outside [1, %d]", slots, MaxSlots))
	}
	if slotSize < 1 || slotSize > MaxSlotSize {
		return fail(fmt.Errorf("slot size %d outside [1, %d]", slotSize, MaxSlotSize))
	}
	n := uint64(1) << bits.Len64(uint64(slots)-1)
	stride := (slotPayload(uint64(slotSize)) + uint64(slotSize) + layout.CacheLine - 1) &^ (layout.CacheLine - 1)
	size := queueHeaderSize + n*stride
	if size > uint64(seg.Size()) {
		return fail(fmt.Errorf("%w: %d slots of %d bytes need %d bytes, the segment has %d", shm.ErrNoSpace, n, stride, size, seg.Size()))
	}
	mem, err := seg.Alloc(name, shm.KindQueue, int(size), 0, func(mem []byte) error {
		atomic.StoreUint32(layout.U32(mem, offQSlots), uint32(n))
		atomic.StoreUint32(layout.U32(mem, offQSlotSize), uint32(slotSize))
		atomic.StoreUint32(layout.U32(mem, offQStride), uint32(stride))
		for i := uint64(0); i < n; i++ {
			// Slot i is free for position i.
			atomic.StoreUint64(layout.U64(mem, int(queueHeaderSize+i*stride)), slotWord(i, slotFree, 0))
		}
		atomic.StoreUint32(layout.U32(mem, offQMagic), queueMagic)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return attachQueue(mem, seg.Name(), name, "new queue")
}

// OpenQueue returns the Queue called name in seg, created by NewQueue in this
// or another process.
func OpenQueue(seg *shm.Segment, name string) (*Queue, error) {
	mem, err := seg.Lookup(name, shm.KindQueue)
	if err != nil {
		return nil, err
	}
	return attachQueue(mem, seg.Name(), name, "open queue")
}

func attachQueue(mem []byte, seg, name, op string) (*Queue, error) {
	fail := func(field string, off int64, format string, args ...any) (*Queue, error) {
		return nil, &shm.Error{Op: op, Segment: seg, Object: name, Field: field, Offset: off,
			Err: fmt.Errorf("%w: "+format, append([]any{shm.ErrCorrupt}, args...)...)}
	}
	if len(mem) < queueHeaderSize {
		return fail("", -1, "object is %d bytes, too small for a queue", len(mem))
	}
	if m := atomic.LoadUint32(layout.U32(mem, offQMagic)); m != queueMagic {
		return fail("magic", offQMagic, "%#x is not a queue", m)
	}
	n := uint64(atomic.LoadUint32(layout.U32(mem, offQSlots)))
	slotSize := uint64(atomic.LoadUint32(layout.U32(mem, offQSlotSize)))
	stride := uint64(atomic.LoadUint32(layout.U32(mem, offQStride)))
	switch {
	case n == 0 || n&(n-1) != 0 || n > MaxSlots:
		return fail("slots", offQSlots, "%d slots: not a power of two in [1, %d]", n, MaxSlots)
	case slotSize == 0 || slotSize > MaxSlotSize:
		return fail("slot_size", offQSlotSize, "slot size %d", slotSize)
	case stride%layout.CacheLine != 0 || stride < slotPayload(slotSize)+slotSize:
		return fail("stride", offQStride, "stride %d for %d-byte slots", stride, slotSize)
	case queueHeaderSize+n*stride > uint64(len(mem)):
		return fail("slots", offQSlots, "%d slots of %d bytes do not fit the %d-byte object", n, stride, len(mem))
	}
	self := proc.Self()
	fence.Enable()
	return &Queue{
		seg: seg, name: name,
		slots:      mem[queueHeaderSize : queueHeaderSize+n*stride : queueHeaderSize+n*stride],
		n:          n,
		mask:       n - 1,
		slotSize:   int(slotSize),
		stride:     stride,
		payload:    slotPayload(slotSize),
		closed:     layout.U32(mem, offQClosed),
		enqPos:     layout.U64(mem, offQEnqueuePos),
		deqPos:     layout.U64(mem, offQDequeuePos),
		lost:       layout.U64(mem, offQLost),
		notEmpty:   sleeper{layout.U32(mem, offQNotEmptySeq), layout.U32(mem, offQNotEmptyWait), true},
		notFull:    sleeper{layout.U32(mem, offQNotFullSeq), layout.U32(mem, offQNotFullWait), true},
		pid:        self.Pid(),
		detailSelf: uint64(self.Start()) << 32,
	}, nil
}

// SlotSize returns the largest message the queue carries, in bytes.
func (q *Queue) SlotSize() int { return q.slotSize }

// Cap returns the number of slots.
func (q *Queue) Cap() int { return int(q.n) }

// Len returns the number of messages queued (claimed by producers and not yet
// by consumers). It is a snapshot.
func (q *Queue) Len() int {
	d := atomic.LoadUint64(q.deqPos)
	e := atomic.LoadUint64(q.enqPos)
	if e <= d {
		return 0
	}
	return int(min(e-d, q.n))
}

// Lost returns the number of messages lost because the process writing or
// reading them died: each is at most the one message that process had in
// hand.
func (q *Queue) Lost() int64 { return int64(atomic.LoadUint64(q.lost)) }

// Close closes the queue for sending: later sends fail with ErrClosed, and
// receivers, once every message sent before Close is received, get
// ErrClosed. Closing twice is harmless.
func (q *Queue) Close() error {
	atomic.StoreUint32(q.closed, 1)
	q.notEmpty.wakeSlow()
	q.notFull.wakeSlow()
	return nil
}

func (q *Queue) isClosed() bool { return atomic.LoadUint32(q.closed) != 0 }

func (q *Queue) err(op string, err error) error {
	return &shm.Error{Op: op, Segment: q.seg, Object: q.name, Offset: -1, Err: err}
}

func (q *Queue) slot(pos uint64) []byte {
	i := (pos & q.mask) * q.stride
	return q.slots[i : i+q.stride : i+q.stride]
}

// ---- sending ----

// Send copies msg into the queue, waiting for a free slot. It returns
// ErrTooLarge at once if msg exceeds SlotSize, ErrClosed if the queue is
// closed, or ctx.Err(); the message is not sent then.
func (q *Queue) Send(ctx context.Context, msg []byte) error {
	_, err := q.send(ctx, msg, false)
	return err
}

// TrySend sends msg if a slot is free now, and reports whether it did.
func (q *Queue) TrySend(msg []byte) (bool, error) {
	return q.send(context.Background(), msg, true)
}

// send follows Vyukov's bounded MPMC queue (1024cores.net, "Bounded MPMC
// queue", 2010), with the claim moved from the position counter to the
// slot itself so that the claimer's pid is recorded atomically with the
// claim:
//
//  1. load p = EnqueuePos and the state word of slot p;
//  2. if the slot is free for p, claim it with CAS(free(p) → writing(p, pid)),
//     then advance EnqueuePos from p to p+1 (another producer may have done
//     it already: the CAS may fail harmlessly);
//  3. if another producer claimed it, help advance EnqueuePos and retry;
//  4. if the slot still holds the previous lap's message, the queue is full;
//  5. record the claimer's start time, write the message, and publish with a
//     release store of ready(p) (fence.Publish64: consumers about to sleep
//     pay the barrier that orders the wake-flag load after it).
func (q *Queue) send(ctx context.Context, msg []byte, try bool) (bool, error) {
	if len(msg) > q.slotSize {
		return false, q.err("send", fmt.Errorf("%w: %d bytes in %d-byte slots", ErrTooLarge, len(msg), q.slotSize))
	}
	if q.isClosed() {
		return false, q.err("send", ErrClosed)
	}
	for {
		p := atomic.LoadUint64(q.enqPos) // 1
		if prefetch.Enabled {
			// The slot two positions on: its line is likely in a
			// consumer's cache (see sendAhead).
			prefetch.Write(layout.U64(q.slot(p+sendAhead), offSlotState))
		}
		s := q.slot(p)
		state := layout.U64(s, offSlotState)
		w := atomic.LoadUint64(state)
		d := int32(slotPos(w) - uint32(p))
		switch {
		case d == 0 && slotState(w) == slotFree:
			if !atomic.CompareAndSwapUint64(state, w, slotWord(p, slotWriting, q.pid)) { // 2
				continue
			}
			atomic.CompareAndSwapUint64(q.enqPos, p, p+1)
			if q.recordHook != nil {
				q.recordHook(true)
			}
			*layout.U64(s, offSlotDetail) = q.detailSelf | uint64(uint32(p)) // 5: read only by death checks
			if q.claimHook != nil {
				q.claimHook(true)
			}
			if q.isClosed() {
				// Closed between the check above and the claim: a
				// receiver may already have returned ErrClosed, so this
				// message must not be delivered. Void the slot.
				*layout.U32(s, offSlotLen) = voidLen
				atomic.StoreUint64(state, slotWord(p, slotReady, q.pid))
				q.notEmpty.wake()
				return false, q.err("send", ErrClosed)
			}
			*layout.U32(s, offSlotLen) = uint32(len(msg))
			copy(s[q.payload:], msg)
			fence.Publish64(state, slotWord(p, slotReady, q.pid)) // publish
			q.notEmpty.wake()
			return true, nil
		case d == 0:
			atomic.CompareAndSwapUint64(q.enqPos, p, p+1) // 3: help
		case d < 0:
			// 4: full (the slot holds position p - Cap(), not yet freed).
			if try {
				return false, nil
			}
			if err := q.waitSend(ctx, p, w); err != nil {
				return false, err
			}
		default:
			// d > 0: the slot is already in a later lap, so EnqueuePos
			// must have moved on since step 1; if it has not, the state
			// word is not one this protocol writes.
			if atomic.LoadUint64(q.enqPos) == p {
				return false, q.corruptSlot("send", p, w)
			}
		}
	}
}

// sendAhead is how many positions ahead of EnqueuePos a producer
// prefetches a slot's state line for writing, where prefetch.Enabled (amd64
// with PREFETCHW; elsewhere it does not prefetch): a consumer on another core
// wrote it last, and without the prefetch each send waited for it to cross.
// Distances 1 to 4 measured alike; docs/design.md ("Prefetching the next
// slots") has the figures.
const sendAhead = 2

// waitSend waits until the slot of position p no longer holds w (the
// previous lap), EnqueuePos moves, or the queue closes.
func (q *Queue) waitSend(ctx context.Context, p, w uint64) error {
	state := layout.U64(q.slot(p), offSlotState)
	err := q.notFull.wait(ctx, waitOpts{
		budget: &q.sendSpin,
		ready: func() bool {
			return atomic.LoadUint64(state) != w || atomic.LoadUint64(q.enqPos) != p || q.isClosed()
		},
		check: func() error {
			q.recover(p, atomic.LoadUint64(state))
			return nil
		},
	})
	if err != nil {
		return err
	}
	if q.isClosed() {
		return q.err("send", ErrClosed)
	}
	return nil
}

// ---- receiving ----

// Recv waits for a message and appends it to dst[:0], returning the result.
// It returns ErrClosed once the queue is closed and every message sent
// before Close has been received, ErrCorrupt for a slot that breaks the
// layout, or ctx.Err().
func (q *Queue) Recv(ctx context.Context, dst []byte) ([]byte, error) {
	dst, _, err := q.recv(ctx, dst, false)
	return dst, err
}

// TryRecv receives a message if one is ready now, appending it to dst[:0],
// and reports whether it did.
func (q *Queue) TryRecv(dst []byte) ([]byte, bool, error) {
	return q.recv(context.Background(), dst, true)
}

// recv is the consumer side of the protocol in send:
//
//  1. load c = DequeuePos and the state word of slot c;
//  2. if the slot is ready(c), claim it with CAS(ready(c) → reading(c, pid)),
//     then advance DequeuePos from c to c+1;
//  3. if another consumer claimed it, help advance DequeuePos and retry;
//  4. if the slot is free(c), the queue is empty; if a producer is writing
//     it, wait for it (and, if that producer has died, recover the slot);
//  5. copy the message out and free the slot for the next lap with a
//     release store of free(c + Cap()) (fence.Publish64, as in send).
func (q *Queue) recv(ctx context.Context, dst []byte, try bool) ([]byte, bool, error) {
	for {
		c := atomic.LoadUint64(q.deqPos) // 1
		s := q.slot(c)
		state := layout.U64(s, offSlotState)
		w := atomic.LoadUint64(state)
		d := int32(slotPos(w) - uint32(c))
		switch {
		case d == 0 && slotState(w) == slotReady:
			if !atomic.CompareAndSwapUint64(state, w, slotWord(c, slotReading, q.pid)) { // 2
				continue
			}
			atomic.CompareAndSwapUint64(q.deqPos, c, c+1)
			if q.recordHook != nil {
				q.recordHook(false)
			}
			// The reader's record flips the position's top bit: until it is
			// stored, the slot still holds its writer's record for the same
			// position, which must not be taken for the reader's.
			*layout.U64(s, offSlotDetail) = q.detailSelf | uint64(uint32(c)^readerMark)
			if q.claimHook != nil {
				q.claimHook(false)
			}
			n := atomic.LoadUint32(layout.U32(s, offSlotLen))
			void := n == voidLen
			var bad error
			switch {
			case void:
			case int(n) > q.slotSize:
				bad = fmt.Errorf("%w: slot %d holds a %d-byte message, slots hold %d", shm.ErrCorrupt, c&q.mask, n, q.slotSize)
			default:
				dst = append(dst[:0], s[q.payload:q.payload+uint64(n)]...) // 5
			}
			fence.Publish64(state, slotWord(c+q.n, slotFree, 0)) // frees the slot
			q.notFull.wake()
			if bad != nil {
				return dst[:0], false, &shm.Error{Op: "recv", Segment: q.seg, Object: q.name, Field: "slot length", Offset: -1, Err: bad}
			}
			if void {
				continue
			}
			return dst, true, nil
		case d == 0 && slotState(w) == slotReading:
			atomic.CompareAndSwapUint64(q.deqPos, c, c+1) // 3: help
		case d == 0 || d < 0:
			// 4: free(c) (empty), writing(c) (not ready yet), or the
			// slot still holds the previous lap (a consumer is reading
			// position c - Cap()): nothing to receive at c yet.
			if q.isClosed() {
				// Load the state again after the flag: a producer that
				// claims c after this load sees the flag and voids its
				// message, so an unclaimed c means nothing more comes.
				if w2 := atomic.LoadUint64(state); unclaimed(w2, c) {
					return dst[:0], false, q.err("recv", ErrClosed)
				}
			}
			if try {
				return dst[:0], false, nil
			}
			if err := q.waitRecv(ctx, c, w, q.isClosed()); err != nil {
				return dst[:0], false, err
			}
		default:
			// d > 0: DequeuePos must have moved on since step 1.
			if atomic.LoadUint64(q.deqPos) == c {
				return dst[:0], false, q.corruptSlot("recv", c, w)
			}
		}
	}
}

// waitRecv waits until the slot of position c no longer holds w, DequeuePos
// moves, or the queue's closed state changes from closed.
func (q *Queue) waitRecv(ctx context.Context, c, w uint64, closed bool) error {
	state := layout.U64(q.slot(c), offSlotState)
	return q.notEmpty.wait(ctx, waitOpts{
		budget: &q.recvSpin,
		ready: func() bool {
			return atomic.LoadUint64(state) != w || atomic.LoadUint64(q.deqPos) != c || q.isClosed() != closed
		},
		check: func() error {
			q.recover(c, atomic.LoadUint64(state))
			return nil
		},
	})
}

func (q *Queue) corruptSlot(op string, pos, w uint64) error {
	return &shm.Error{Op: op, Segment: q.seg, Object: q.name, Field: "slot state", Offset: -1,
		Err: fmt.Errorf("%w: slot %d holds state %#x, ahead of position %d", shm.ErrCorrupt, pos&q.mask, w, pos)}
}

// unclaimed reports whether state word w shows that no producer has claimed
// position c: the slot is free for c, or still holds an earlier lap.
func unclaimed(w, c uint64) bool {
	d := int32(slotPos(w) - uint32(c))
	return d < 0 || d == 0 && slotState(w) == slotFree
}

// recover frees the slot of position pos if it is stuck in state writing or
// reading and the process that claimed it is dead. The message that process
// held is lost and counted in Lost. Consumers call it for the position they
// wait at (its producer died writing); producers for the slot they wait for
// (still holding the previous lap: a consumer died reading, or a producer
// died writing and consumers moved past it).
func (q *Queue) recover(pos uint64, w uint64) {
	st := slotState(w)
	if st != slotWriting && st != slotReading {
		return
	}
	stuck := uint64(slotPos(w))
	s := q.slot(pos)
	detail := atomic.LoadUint64(layout.U64(s, offSlotDetail))
	pid := slotPid(w)
	want := uint32(stuck)
	if st == slotReading {
		want ^= readerMark
	}
	var alive bool
	if uint32(detail) == want {
		alive = proc.Alive(proc.Make(pid, detail>>32))
	} else {
		// The claimer died (or is about to store its record) before
		// recording its start time: only its pid is known. What the slot
		// holds then is the previous claimer's record — for a reader, the
		// writer's of the same position, told apart by readerMark.
		alive = proc.PidAlive(pid)
	}
	if alive {
		return
	}
	// Invariant: a slot of position s is freed for s + Cap() only once
	// DequeuePos is past s, so that no consumer sees the slot in a later lap
	// while DequeuePos still names it. A consumer recovering its own
	// position, or a producer lapping round to a slot that consumers never
	// passed (its writer died), or whose reader died before advancing
	// DequeuePos, moves consumers past it first.
	s64 := pos - uint64(uint32(pos)-uint32(stuck)) // the stuck position, 64 bits
	atomic.CompareAndSwapUint64(q.deqPos, s64, s64+1)
	// Free it for the next lap of the stuck position.
	if atomic.CompareAndSwapUint64(layout.U64(s, offSlotState), w, slotWord(stuck+q.n, slotFree, 0)) {
		atomic.AddUint64(q.lost, 1)
		q.notFull.wakeSlow()
		q.notEmpty.wakeSlow()
	}
}

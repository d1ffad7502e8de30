package ring

import (
	"context"
	"fmt"
	"math/bits"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/fence"
	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/proc"
	"github.com/shmkit/shmkit/internal/spin"
	"github.com/shmkit/shmkit/shm"
)

// spscHeader documents the header of an SPSC ring; the off* constants are
// its offsets and a test keeps them in agreement. The data area of Capacity
// bytes follows it.
type spscHeader struct {
	// Line 0: written at creation, on role changes and on close.
	Magic    uint32 // spscMagic
	_        uint32
	Capacity uint64 // data bytes: a power of two
	Closed   uint32 // 1 once closed for sending
	_        uint32
	Producer uint64 // identity of the producing process, 0 before the first send
	Consumer uint64 // identity of the consuming process, 0 before the first receive
	_        [24]byte
	// Line 1: the producer's, written after every commit (plain stores:
	// they publish nothing, the record headers do).
	Tail uint64 // bytes committed, a stream position
	Sent uint64 // messages committed
	_    [48]byte
	// Line 2: the consumer's.
	Head     uint64 // bytes released: the producer may reuse the space below
	Received uint64 // messages released
	_        [48]byte
	// Line 3: the consumer waits here for data.
	DataSeq  uint32
	DataWait uint32
	_        [56]byte
	// Line 4: the producer waits here for space.
	SpaceSeq  uint32
	SpaceWait uint32
	_         [56]byte
}

const (
	spscMagic = 0x53505343 // "SPSC"

	offSMagic     = 0
	offSCapacity  = 8
	offSClosed    = 16
	offSProducer  = 24
	offSConsumer  = 32
	offSTail      = 64
	offSSent      = 72
	offSHead      = 128
	offSReceived  = 136
	offSDataSeq   = 192
	offSDataWait  = 196
	offSSpaceSeq  = 256
	offSSpaceWait = 260

	spscHeaderSize = 320
)

// Record headers: one 64-bit word before every message, 8-byte aligned.
//
//	bits 0..31   payload length in bytes
//	bit  32      committed: the record is complete (0 words are never committed)
//	bit  33      skip: the rest of this lap is unused; continue at the next lap's start
//	bits 34..36  pad: 8-byte words between the header and the payload (0..7)
//	bits 48..63  lap: the record's stream position divided by the capacity,
//	             low 16 bits, a check that the word belongs to this lap
const (
	recCommitted = uint64(1) << 32
	recSkip      = uint64(1) << 33
	recPadShift  = 34
	recPadMask   = uint64(7) << recPadShift
	recLapShift  = 48
	recKnown     = recCommitted | recSkip | recPadMask | 0xFFFF<<recLapShift | 0xFFFFFFFF
	recHeader    = 8
	maxPad       = 56
)

// AlignFrom is the smallest reservation whose space the producer places on
// a 64-byte boundary of the ring, padding the record after its header by up
// to 56 bytes. Reserve(n) with n ≥ AlignFrom returns space that starts a
// cache line (a message committed shorter keeps its place), and so do the
// copying sends (Send, TrySend, SendBatch, and a Conn's) for messages that
// large. Reservations too large to afford the pad in their ring (over
// MaxMessage-56 bytes) are not padded. A Queue whose SlotSize is AlignFrom
// or more likewise starts each slot's message on a cache line.
//
// Why from 1 MiB: from there Go's copy uses non-temporal stores, which are
// slow into a destination that does not start a cache line. Measured
// (1 MiB messages between two processes, zero-copy): 50-56 µs a message
// aligned, 68-72 µs at 8 bytes past a boundary; through a Queue with 1 MiB
// slots, 62-70 µs aligned and 132-142 µs at 24 bytes past. At 4 KiB
// alignment made no difference and at 64 KiB it was slower (Queue: 3.8-4.0
// against 4.8-5.7 µs), so smaller messages are not padded.
const AlignFrom = 1 << 20

// Capacity bounds.
const (
	// MinCapacity is the smallest SPSC data area.
	MinCapacity = 64
	// MaxCapacity is the largest SPSC data area.
	MaxCapacity = 1 << 32
)

// SPSC is a ring of variable-length messages with one producer and one
// consumer, which may be in different processes. Its zero value is not
// usable: make one with NewSPSC or OpenSPSC.
//
// One goroutine sends (Send, TrySend, SendBatch, Reserve, Commit) and one
// goroutine receives (Recv, TryRecv, RecvBatch, Peek, Release), in this
// process or another; they may share a handle. The first process to send
// becomes the producer and the first to receive the consumer: a second live
// process that tries gets ErrBusy, and a process may take over a role from
// a dead one. Len and Close may be called from any goroutine.
type SPSC struct {
	_ layout.NoCopy

	seg, name string
	data      []byte
	capacity  uint64
	mask      uint64
	shift     uint
	maxMsg    int
	alignFrom int // AlignFrom; tests lower it to pad small records
	fastMax   int // the largest message room takes: min(maxMsg, alignFrom-1)

	closed     *uint32
	producerID *uint64
	consumerID *uint64
	tail, sent *uint64
	head, recv *uint64
	// The identity words whose holder's death ends a wait: by default the
	// other role of this ring; a Conn watches the other end of its pipe.
	peerForData  *uint64 // the consumer waiting for data watches this
	peerForSpace *uint64 // the producer waiting for space watches this
	dataWait     sleeper // the consumer waits here
	spaceWait    sleeper // the producer waits here
	busy         atomic.Bool

	// The producing goroutine's state.
	p struct {
		role       bool
		tail       uint64 // next record's stream position
		cachedHead uint64 // the consumer's Head, as last read
		// limit: room takes an s-byte record at tail if tail+s <= limit,
		// the lower of the end of tail's lap and the end of the space
		// cachedHead frees (less the header after the record). It is set
		// by reserve and is 0 until then, after a takeover too.
		limit      uint64
		sent       uint64
		pending    int    // reserved payload bytes, -1 when none
		pendingPad uint64 // the reservation is at tail, after this pad
		spin       spin.Budget
	}
	_ [64]byte // keep the two goroutines' state on different cache lines
	// The consuming goroutine's state.
	c struct {
		role      bool
		head      uint64 // next record's stream position
		published uint64 // Head as last stored
		recv      uint64
		waitedAt  uint64 // recv when the consumer last waited
		peeked    bool
		peekSize  uint64 // record size of the peeked message
		spin      spin.Budget
	}
}

// NewSPSC creates an SPSC ring called name in seg with a data area of at
// least capacityBytes bytes, rounded up to a power of two (Cap reports it).
// A message may be up to Cap()-16 bytes.
func NewSPSC(seg *shm.Segment, name string, capacityBytes int) (*SPSC, error) {
	c, err := roundCapacity(capacityBytes)
	if err != nil {
		return nil, &shm.Error{Op: "new spsc", Segment: seg.Name(), Object: name, Offset: -1, Err: err}
	}
	mem, err := seg.Alloc(name, shm.KindSPSC, spscHeaderSize+int(c), 0, func(mem []byte) error {
		initSPSC(mem, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return attachSPSC(mem, seg.Name(), name, "new spsc")
}

// OpenSPSC returns the SPSC ring called name in seg, created by NewSPSC in
// this or another process.
func OpenSPSC(seg *shm.Segment, name string) (*SPSC, error) {
	mem, err := seg.Lookup(name, shm.KindSPSC)
	if err != nil {
		return nil, err
	}
	return attachSPSC(mem, seg.Name(), name, "open spsc")
}

func roundCapacity(n int) (uint64, error) {
	if n < 1 || uint64(n) > MaxCapacity {
		return 0, fmt.Errorf("capacity %d outside [1, %d]", n, uint64(MaxCapacity))
	}
	c := uint64(1) << bits.Len64(uint64(n)-1)
	return max(c, MinCapacity), nil
}

// spscSize returns the bytes an SPSC ring of capacity c occupies.
func spscSize(c uint64) int { return spscHeaderSize + int(c) }

func initSPSC(mem []byte, c uint64) {
	atomic.StoreUint32(layout.U32(mem, offSMagic), spscMagic)
	atomic.StoreUint64(layout.U64(mem, offSCapacity), c)
}

// attachSPSC validates the ring header in mem and builds a handle.
func attachSPSC(mem []byte, seg, name, op string) (*SPSC, error) {
	fail := func(field string, off int64, format string, args ...any) (*SPSC, error) {
		return nil, &shm.Error{Op: op, Segment: seg, Object: name, Field: field, Offset: off,
			Err: fmt.Errorf("%w: "+format, append([]any{shm.ErrCorrupt}, args...)...)}
	}
	if len(mem) < spscHeaderSize+MinCapacity {
		return fail("", -1, "object is %d bytes, too small for a ring", len(mem))
	}
	if m := atomic.LoadUint32(layout.U32(mem, offSMagic)); m != spscMagic {
		return fail("magic", offSMagic, "%#x is not an SPSC ring", m)
	}
	c := atomic.LoadUint64(layout.U64(mem, offSCapacity))
	if c < MinCapacity || c > MaxCapacity || c&(c-1) != 0 || uint64(len(mem)-spscHeaderSize) < c {
		return fail("capacity", offSCapacity, "capacity %d in an object of %d bytes", c, len(mem))
	}
	r := &SPSC{
		seg: seg, name: name,
		data:       mem[spscHeaderSize : spscHeaderSize+c : spscHeaderSize+c],
		capacity:   c,
		mask:       c - 1,
		shift:      uint(bits.TrailingZeros64(c)),
		maxMsg:     int(min(c-2*recHeader, 1<<32-1)),
		closed:     layout.U32(mem, offSClosed),
		producerID: layout.U64(mem, offSProducer),
		consumerID: layout.U64(mem, offSConsumer),
		tail:       layout.U64(mem, offSTail),
		sent:       layout.U64(mem, offSSent),
		head:       layout.U64(mem, offSHead),
		recv:       layout.U64(mem, offSReceived),
		dataWait:   sleeper{layout.U32(mem, offSDataSeq), layout.U32(mem, offSDataWait), true},
		spaceWait:  sleeper{layout.U32(mem, offSSpaceSeq), layout.U32(mem, offSSpaceWait), true},
	}
	r.alignFrom = AlignFrom
	r.fastMax = min(r.maxMsg, r.alignFrom-1)
	r.peerForData, r.peerForSpace = r.producerID, r.consumerID
	r.p.pending = -1
	return r, nil
}

// Cap returns the size of the ring's data area in bytes.
func (r *SPSC) Cap() int { return int(r.capacity) }

// MaxMessage returns the largest message the ring can hold: Cap()-16 bytes.
func (r *SPSC) MaxMessage() int { return r.maxMsg }

// SetBusyWait makes this handle's blocking calls spin until they can go on,
// never sleeping: the lowest latency, at the cost of a CPU kept busy while
// waiting. Use it only when each side has a CPU of its own. The default
// spins briefly, then sleeps.
func (r *SPSC) SetBusyWait(on bool) { r.busy.Store(on) }

// Len returns the number of messages committed and not yet released. It is a
// snapshot: the other side may change it at once.
func (r *SPSC) Len() int {
	recv := atomic.LoadUint64(r.recv)
	sent := atomic.LoadUint64(r.sent)
	if sent < recv {
		return 0
	}
	return int(min(sent-recv, uint64(r.capacity/recHeader)))
}

// Close closes the ring for sending: later sends fail with ErrClosed, and the
// consumer, once it has received every message committed before Close, gets
// ErrClosed. Any process may close the ring; closing twice is harmless.
//
// Closed by the producer after its last send, the stream ends exactly
// there. A Close from another goroutine or process races with a send in
// progress: that message may be committed just after the consumer has
// seen ErrClosed, and a later Recv still returns it.
func (r *SPSC) Close() error {
	atomic.StoreUint32(r.closed, 1) // publishes: the consumer checks it when it finds no record
	r.dataWait.wakeSlow()
	r.spaceWait.wakeSlow()
	return nil
}

func (r *SPSC) isClosed() bool { return atomic.LoadUint32(r.closed) != 0 }

func (r *SPSC) err(op string, err error) error {
	return &shm.Error{Op: op, Segment: r.seg, Object: r.name, Offset: -1, Err: err}
}

func (r *SPSC) corrupt(op string, pos uint64, format string, args ...any) error {
	return &shm.Error{Op: op, Segment: r.seg, Object: r.name, Field: "record header", Offset: -1,
		Err: fmt.Errorf("%w: at stream position %d: "+format, append([]any{shm.ErrCorrupt, pos}, args...)...)}
}

// hdr returns the record header word at data offset off (8-aligned).
func (r *SPSC) hdr(off uint64) *uint64 { return layout.U64(r.data, int(off)) }

// word is hdr without its bounds check, for the fast paths: off must be a
// multiple of 8 below the capacity, as every offset of a stream position is
// (positions are multiples of 8, checked where they are read from shared
// memory), so the word lies inside the data area.
func (r *SPSC) word(off uint64) *uint64 {
	return (*uint64)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(r.data)), off))
}

// bytes is r.data[off:off+n:off+n] without its bounds checks, for the fast
// paths and for reservations: the caller has checked that off+n is at most
// the capacity (room, plain, or the general path's checks).
func (r *SPSC) bytes(off, n uint64) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(r.data)), off)), n)
}

func (r *SPSC) lap(pos uint64) uint64 { return (pos >> (r.shift & 63)) & 0xFFFF << recLapShift }

// recordSize returns the bytes a record of n payload bytes occupies,
// without pad.
func recordSize(n int) uint64 { return recHeader + (uint64(n)+7)&^7 }

// recPad returns the pad, in bytes, of the record whose header is h.
func recPad(h uint64) uint64 { return (h & recPadMask) >> recPadShift * 8 }

// padFor returns the pad, in bytes, that puts the payload of an n-byte
// record at ring offset off on a 64-byte boundary: 0 for a message smaller
// than AlignFrom or too large to afford a pad.
func (r *SPSC) padFor(off uint64, n int) uint64 {
	if n < r.alignFrom || n > r.maxMsg-maxPad {
		return 0
	}
	return (maxPad - off) & 63
}

// ---- roles ----

// claim makes this process hold the role whose identity word is id, taking
// it over from a dead holder. It reports whether it took over.
func claim(id *uint64) (tookOver bool, holder int, ok bool) {
	self := uint64(proc.Self())
	for {
		cur := atomic.LoadUint64(id)
		if cur == self {
			return false, 0, true
		}
		if cur != 0 && proc.Alive(proc.Identity(cur)) {
			return false, proc.Identity(cur).Pid(), false
		}
		if atomic.CompareAndSwapUint64(id, cur, self) {
			return cur != 0, 0, true
		}
	}
}

func (r *SPSC) claimProducer(op string) error {
	_, holder, ok := claim(r.producerID)
	if !ok {
		return r.err(op, fmt.Errorf("%w: process %d is the producer", ErrBusy, holder))
	}
	fence.Enable()
	// Recover the stream position: Tail is stored after each commit, so it
	// may lag by one record if the previous producer died between its
	// commit and that store; walk committed records from there.
	pos := atomic.LoadUint64(r.tail)
	head := atomic.LoadUint64(r.head)
	if head%recHeader != 0 {
		atomic.CompareAndSwapUint64(r.producerID, uint64(proc.Self()), 0)
		return r.corrupt(op, head, "the consumer's position is not 8-byte aligned")
	}
	if pos < head || pos-head > r.capacity || pos%recHeader != 0 {
		pos = head
	}
	for i := uint64(0); i < r.capacity/recHeader; i++ {
		off := pos & r.mask
		h := atomic.LoadUint64(r.hdr(off))
		if h&recCommitted == 0 || h&^recKnown != 0 || h&(0xFFFF<<recLapShift) != r.lap(pos) {
			break
		}
		if h&recSkip != 0 {
			pos += r.capacity - off
			continue
		}
		size := recordSize(int(uint32(h))) + recPad(h)
		if off+size > r.capacity {
			break
		}
		pos += size
	}
	r.p.tail = pos
	r.p.cachedHead = head
	r.p.limit = 0
	r.p.sent = atomic.LoadUint64(r.sent)
	r.p.role = true
	return nil
}

func (r *SPSC) claimConsumer(op string) error {
	_, holder, ok := claim(r.consumerID)
	if !ok {
		return r.err(op, fmt.Errorf("%w: process %d is the consumer", ErrBusy, holder))
	}
	fence.Enable()
	// Head is stored when space is released: a message a dead consumer had
	// received but not released is received again.
	head := atomic.LoadUint64(r.head)
	if head%recHeader != 0 {
		atomic.CompareAndSwapUint64(r.consumerID, uint64(proc.Self()), 0)
		return r.corrupt(op, head, "the consumer's position is not 8-byte aligned")
	}
	r.c.head = head
	r.c.published = r.c.head
	r.c.recv = atomic.LoadUint64(r.recv)
	r.c.waitedAt = r.c.recv
	r.c.role = true
	return nil
}

// peerDead returns an error if the process holding the role in id has died.
func peerDead(id *uint64, eof bool) error {
	cur := proc.Identity(atomic.LoadUint64(id))
	if cur != 0 && !proc.Alive(cur) {
		return &peerDied{pid: cur.Pid(), eof: eof}
	}
	return nil
}

// Reset empties the ring and frees the consumer's role, so that a new
// consumer can take over a ring whose consumer died without receiving what
// was sent to it (a replacement worker, say). The calling process must be
// the producer (or the producer's role must be free), and the consumer's
// role must be free or held by a dead process: otherwise Reset returns
// ErrBusy. Messages committed and not yet released are discarded; the
// producer goes on from where it was. Reset must not run concurrently with
// a send or receive on this handle.
func (r *SPSC) Reset() error {
	const op = "reset"
	if !r.p.role {
		if err := r.claimProducer(op); err != nil {
			return err
		}
	}
	cur := atomic.LoadUint64(r.consumerID)
	if cur != 0 && cur != uint64(proc.Self()) && proc.Alive(proc.Identity(cur)) {
		return r.err(op, fmt.Errorf("%w: process %d is the consumer", ErrBusy, proc.Identity(cur).Pid()))
	}
	// Discard: the consumer's position jumps to the producer's.
	atomic.StoreUint64(r.head, r.p.tail)
	*r.recv = r.p.sent
	r.p.cachedHead = r.p.tail
	if !atomic.CompareAndSwapUint64(r.consumerID, cur, 0) {
		return r.err(op, fmt.Errorf("%w: a consumer took the ring meanwhile", ErrBusy))
	}
	r.c.role = false
	r.c.peeked = false
	r.spaceWait.wakeSlow()
	return nil
}

// ---- producing ----

// free reports whether the n bytes from stream position pos are free,
// re-reading Head only when the cached copy says they are not (Rigtorp's
// cached index).
func (r *SPSC) free(pos, n uint64) bool {
	if pos+n-r.p.cachedHead <= r.capacity {
		return true
	}
	r.p.cachedHead = atomic.LoadUint64(r.head) // acquire: the consumer is done with the bytes below
	return pos+n-r.p.cachedHead <= r.capacity
}

// waitFree waits until n bytes from pos are free.
func (r *SPSC) waitFree(ctx context.Context, op string, pos, n uint64) error {
	if r.free(pos, n) {
		return nil
	}
	err := r.spaceWait.wait(ctx, waitOpts{
		budget: &r.p.spin,
		busy:   r.busy.Load(),
		ready:  func() bool { return r.free(pos, n) || r.isClosed() },
		check:  func() error { return peerDead(r.peerForSpace, false) },
	})
	if err != nil {
		if ctx.Err() != nil && err == ctx.Err() {
			return err
		}
		return r.err(op, err)
	}
	if !r.free(pos, n) {
		return r.err(op, ErrClosed)
	}
	r.slip(pos, n)
	return nil
}

// Slip bounds: after waiting for space, the producer waits up to
// slipWait more for slipShare of the ring to be free.
const (
	slipShare = 16 // a sixteenth of the capacity
	slipWait  = 20 * time.Microsecond
)

// slip runs after the producer had to wait for space: it waits a little
// longer, spinning, until a sixteenth of the ring is free. Taking space a
// record at a time as the consumer frees it would keep the producer
// reading the consumer's head line while the consumer writes it, and that
// ping-pong of one cache line halves the rate of a full ring. The extra
// wait is bounded (slipWait), so a consumer that stops receiving delays a
// record that fits by that much at most, and it is skipped where spinning
// cannot help (one CPU).
func (r *SPSC) slip(pos, n uint64) {
	chunk := max(n, r.capacity/slipShare)
	if !spin.Useful() || r.free(pos, chunk) {
		return
	}
	start := time.Now()
	for i := 1; ; i++ {
		for k := 0; k < 16; k++ {
			spin.Pause() // read head rarely: each read pulls the consumer's line
		}
		if r.free(pos, chunk) || i%16 == 0 && time.Since(start) > slipWait {
			return
		}
	}
}

// room is the common case of every send, checked without reserve's
// generality: this process is the producer with nothing reserved, the ring
// is open, the message is not padded, and an n-byte record fits at the
// producer's position without a wrap by the cached copy of head (limit;
// it is 0 until this process has become the producer). It returns that
// position.
func (r *SPSC) room(n int) (uint64, bool) {
	pos := r.p.tail
	return pos, r.p.pending < 0 && uint(n) <= uint(r.fastMax) && pos+recordSize(n) <= r.p.limit && !r.isClosed()
}

// Reserve waits until n contiguous bytes are free in the ring and returns
// them, to be filled in place and published with Commit: the zero-copy way
// to send. The slice is valid until Commit; for n of at least AlignFrom it
// starts on a 64-byte boundary (see AlignFrom). It returns ErrTooLarge at once
// for n > MaxMessage, ErrClosed if the ring is closed, ErrPeerDied if the
// consumer died while Reserve waited, or ctx.Err(); nothing is reserved
// then.
//
// Reserve panics if a reservation is already pending.
func (r *SPSC) Reserve(ctx context.Context, n int) ([]byte, error) {
	if pos, ok := r.room(n); ok {
		return r.reserved(pos, n, 0), nil
	}
	return r.reserve(ctx, "reserve", n, false)
}

// reserved records a reservation of n bytes after pad bytes at stream
// position pos, the producer's tail, which room or waitFree found free, and
// returns the space.
func (r *SPSC) reserved(pos uint64, n int, pad uint64) []byte {
	r.p.pending = n
	r.p.pendingPad = pad
	return r.bytes(pos&r.mask+recHeader+pad, uint64(n))
}

// reserve is Reserve; with try it returns nil, nil instead of waiting.
func (r *SPSC) reserve(ctx context.Context, op string, n int, try bool) ([]byte, error) {
	if pos, ok := r.room(n); ok {
		return r.reserved(pos, n, 0), nil
	}
	if r.p.pending >= 0 {
		panic("ring: SPSC " + r.name + ": Reserve with a reservation pending")
	}
	if n < 0 || n > r.maxMsg {
		return nil, r.err(op, fmt.Errorf("%w: %d bytes, at most %d fit in this ring", ErrTooLarge, n, r.maxMsg))
	}
	if !r.p.role {
		if err := r.claimProducer(op); err != nil {
			return nil, err
		}
	}
	if r.isClosed() {
		return nil, r.err(op, ErrClosed)
	}
	pos := r.p.tail
	off := pos & r.mask
	pad := r.padFor(off, n)
	size := recordSize(n) + pad
	if off+size > r.capacity {
		// Not enough room before the end: skip to the next lap, which needs
		// the rest of this lap and the next lap's first header.
		rest := r.capacity - off
		if try && !r.free(pos, rest+recHeader) {
			return nil, nil
		}
		if err := r.waitFree(ctx, op, pos, rest+recHeader); err != nil {
			return nil, err
		}
		*r.hdr(0) = 0                                                // the next lap's first header: not committed
		fence.Publish64(r.hdr(off), recCommitted|recSkip|r.lap(pos)) // publishes the skip
		pos += rest
		r.p.tail = pos
		*r.tail = pos
		r.dataWait.wake()
		pad = r.padFor(0, n)
		size = recordSize(n) + pad
	}
	// The record and the header after it, which Commit zeroes.
	if try && !r.free(pos, size+recHeader) {
		return nil, nil
	}
	if err := r.waitFree(ctx, op, pos, size+recHeader); err != nil {
		return nil, err
	}
	// Valid until this general path runs again: cachedHead only grows,
	// and a tail in the next lap is past the end of this one.
	r.p.limit = min(pos-pos&r.mask+r.capacity, r.p.cachedHead+r.capacity-recHeader)
	return r.reserved(pos, n, pad), nil
}

// Commit publishes the first n bytes of the reserved space as one message
// (n may be less than was reserved). It makes no system call unless the
// consumer sleeps. It panics if nothing is reserved or n is out of range.
func (r *SPSC) Commit(n int) error {
	r.commit(n) // Commit inlines: one call per message, as Send makes
	return nil
}

// badCommit panics for a Commit(n) that does not match the reservation.
func (r *SPSC) badCommit(n int) {
	if r.p.pending < 0 {
		panic("ring: SPSC " + r.name + ": Commit without Reserve")
	}
	panic(fmt.Sprintf("ring: SPSC %s: Commit(%d) of a %d-byte reservation", r.name, n, r.p.pending))
}

// commit publishes the first n bytes of the reservation at the producer's
// position as a record.
func (r *SPSC) commit(n int) {
	if n < 0 || n > r.p.pending { // also when nothing is reserved: pending is -1
		r.badCommit(n)
	}
	r.p.pending = -1
	pos, pad := r.p.tail, r.p.pendingPad
	next := pos + recordSize(n) + pad
	*r.word(next & r.mask) = 0 // the next header: not committed
	// Publish: a release store of the header makes the payload and the
	// zeroed next header visible with it. The consumer's fence.Heavy before
	// it sleeps orders the wait-flag load in wake after this store.
	fence.Publish64(r.word(pos&r.mask), uint64(n)|pad/8<<recPadShift|recCommitted|r.lap(pos))
	r.p.tail = next
	r.p.sent++
	*r.tail = next // informational: plain stores
	*r.sent = r.p.sent
	r.dataWait.wake()
}

// Send copies msg into the ring as one message, waiting for space. It
// returns ErrTooLarge at once if msg can never fit, ErrClosed if the ring is
// closed, ErrPeerDied if the consumer died while Send waited, or ctx.Err();
// the message is not sent then.
func (r *SPSC) Send(ctx context.Context, msg []byte) error {
	if pos, ok := r.room(len(msg)); ok {
		copy(r.reserved(pos, len(msg), 0), msg)
		r.commit(len(msg))
		return nil
	}
	buf, err := r.reserve(ctx, "send", len(msg), false)
	if err != nil {
		return err
	}
	copy(buf, msg)
	r.commit(len(msg))
	return nil
}

// TrySend sends msg if there is space now, and reports whether it did.
func (r *SPSC) TrySend(msg []byte) (bool, error) {
	buf, err := r.reserve(context.Background(), "send", len(msg), true)
	if err != nil || r.p.pending < 0 {
		return false, err
	}
	copy(buf, msg)
	r.commit(len(msg))
	return true, nil
}

// SendBatch sends every message of msgs in order, publishing them together:
// the records are written with plain stores and the batch is published by
// one store of its first header, so the consumer sees all of them at once
// and the producer checks the consumer's wait flag once for the batch. If
// the ring fills, what is written so far is published before SendBatch
// waits; a message of AlignFrom bytes or more is sent on its own, as Send
// sends it. Errors are those of Send; the messages before the failing one
// have been sent.
func (r *SPSC) SendBatch(ctx context.Context, msgs [][]byte) error {
	const op = "send"
	if r.p.pending >= 0 {
		panic("ring: SPSC " + r.name + ": SendBatch with a reservation pending")
	}
	if !r.p.role {
		if err := r.claimProducer(op); err != nil {
			return err
		}
	}
	for len(msgs) > 0 {
		if r.isClosed() {
			return r.err(op, ErrClosed)
		}
		first := r.p.tail // the batch's first header, stored last
		var firstHdr uint64
		pos := first
		n := 0
		for ; n < len(msgs); n++ {
			m := msgs[n]
			if len(m) > r.fastMax {
				break // too large, or padded: sent alone, below
			}
			size := recordSize(len(m))
			off := pos & r.mask
			if off+size > r.capacity {
				rest := r.capacity - off
				if !r.free(pos, rest+size+recHeader) {
					break
				}
				*r.hdr(0) = 0
				h := recCommitted | recSkip | r.lap(pos)
				if pos == first {
					firstHdr = h
				} else {
					*r.hdr(off) = h
				}
				pos += rest
				off = 0
			} else if !r.free(pos, size+recHeader) {
				break
			}
			copy(r.data[off+recHeader:], m)
			h := uint64(len(m)) | recCommitted | r.lap(pos)
			if pos == first {
				firstHdr = h
			} else {
				*r.hdr(off) = h
			}
			pos += size
		}
		if n > 0 {
			// Each record's header overwrote the zero its predecessor
			// needed; only the header after the last record is left to
			// clear (free space covered it in every free check).
			*r.hdr(pos & r.mask) = 0
			fence.Publish64(r.hdr(first&r.mask), firstHdr) // publishes the batch
			r.p.tail = pos
			r.p.sent += uint64(n)
			*r.tail = pos
			*r.sent = r.p.sent
			r.dataWait.wake()
			msgs = msgs[n:]
			continue
		}
		// The first message does not fit now, or is one that Send pads
		// (AlignFrom bytes or more), or can never fit: send it as Send does.
		if err := r.Send(ctx, msgs[0]); err != nil {
			return err
		}
		msgs = msgs[1:]
	}
	return nil
}

// ---- consuming ----

// The consumer's slip. A consumer that has received catchUpRun messages or
// more since it last waited, and finds the ring empty, is streaming and
// has caught up with the producer. Polling now would read the cache line
// the producer is writing the next record into, again for every record:
// the line bounces between the two cores and both run slower than either
// would alone. So, while the producer keeps publishing fast, the consumer
// stays off the ring until the producer is catchUpLead ahead, and then
// reads records from lines the producer has finished with (catchUp).
const (
	catchUpRun = 8
	// catchUpPoll: how often the slipping consumer reads the producer's
	// tail word, a line of its own that the producer writes once per
	// record, so a poll costs the producer one line transfer, not one
	// per record.
	catchUpPoll = 250 * time.Nanosecond
	// catchUpRate: the slip goes on only while tail advances this many
	// bytes per poll (about 2 GB/s, 28 M 64-byte messages a second); a
	// slower or paused producer ends it at the next poll.
	catchUpRate = 512
	// catchUpLead: the slip ends when the producer is this far ahead, or
	// a sixteenth of the ring if that is less.
	catchUpLead = 64 << 10
)

// catchUp is the consumer's slip: it spins, reading only the producer's
// tail word every catchUpPoll, while the producer publishes at least
// catchUpRate bytes a poll, until it is catchUpLead ahead or slipWait has
// passed. A consumer that receives a message per wait (request and reply)
// never gets here; in a stream that slows down or stops, a message waits
// for one poll more than it would have; in a fast stream, until the lead
// is built or slipWait at most. Tail is informational: a wrong value can
// only end the slip early or let it run to slipWait.
func (r *SPSC) catchUp() {
	if !spin.Useful() {
		return
	}
	head := r.c.head
	lead := min(catchUpLead, r.capacity/slipShare)
	last := atomic.LoadUint64(r.tail)
	start := time.Now()
	for {
		spin.Delay(catchUpPoll)
		t := atomic.LoadUint64(r.tail)
		if t-last < catchUpRate || t-head >= lead || time.Since(start) > slipWait {
			return
		}
		last = t
	}
}

// next returns the header of the record at the consumer's position, skipping
// skip records, or 0 if there is none yet. It validates what it reads.
func (r *SPSC) next(op string) (uint64, error) {
	for skips := 0; ; skips++ {
		pos := r.c.head
		off := pos & r.mask
		h := atomic.LoadUint64(r.hdr(off)) // acquire: the record's bytes are complete
		if h == 0 {
			return 0, nil
		}
		if h&recCommitted == 0 || h&^recKnown != 0 {
			return 0, r.corrupt(op, pos, "word %#x is not a record header", h)
		}
		if h&(0xFFFF<<recLapShift) != r.lap(pos) {
			return 0, r.corrupt(op, pos, "header %#x belongs to another lap", h)
		}
		if h&recSkip != 0 {
			if skips > 0 || h&(0xFFFFFFFF|recPadMask) != 0 {
				return 0, r.corrupt(op, pos, "malformed skip record %#x", h)
			}
			r.c.head = pos + r.capacity - off
			continue
		}
		n := uint32(h)
		if int(n) > r.maxMsg || off+recordSize(int(n))+recPad(h) > r.capacity {
			return 0, r.corrupt(op, pos, "a %d-byte record at offset %d of a %d-byte ring", n, off, r.capacity)
		}
		return h, nil
	}
}

// plain is the common case of every receive, checked without next's
// generality: a committed record of this lap that is not a skip, with a
// length next would accept, at the consumer's position. It returns the
// record's length.
func (r *SPSC) plain() (uint64, bool) {
	pos := r.c.head
	// off is 8-aligned and below the capacity, so off+8 is in bounds and
	// the header word is read without hdr's bounds check. Acquire: the
	// record's bytes are complete.
	off := pos & r.mask
	h := atomic.LoadUint64(r.word(off))
	n := h & 0xFFFFFFFF
	return n, h&^0xFFFFFFFF == recCommitted|r.lap(pos) && n <= uint64(r.maxMsg) && off+recHeader+(n+7)&^7 <= r.capacity
}

// publishHead releases the space below the consumer's position to the
// producer and wakes it if it waits.
func (r *SPSC) publishHead() {
	if r.c.published == r.c.head {
		return
	}
	// Release store: the payload reads come before it. The producer's
	// fence.Heavy before it sleeps orders the wait-flag load after it.
	fence.Publish64(r.head, r.c.head)
	r.c.published = r.c.head
	*r.recv = r.c.recv
	r.wakeProducer()
}

// wakeProducer is spaceWait.wake, not inlined into publishHead. Measured
// (64-byte streams, go test -bench 'Stream/size=64/' ./ring): inlined, it
// made the consumer just fast enough to catch up with a batching producer
// and poll the cache line the producer was writing, and SendBatch/RecvBatch
// went from 7 to 11 ns a message, with Send/Recv no faster.
//
//go:noinline
func (r *SPSC) wakeProducer() { r.spaceWait.wake() }

// waitData waits until a record is committed at the consumer's position.
func (r *SPSC) waitData(ctx context.Context, op string, eof bool) (uint64, error) {
	for {
		h, err := r.next(op)
		if err != nil || h != 0 {
			return h, err
		}
		if r.isClosed() {
			// Close was stored after the last commit: look once more.
			if h, err := r.next(op); err != nil || h != 0 {
				return h, err
			}
			return 0, r.closedErr(op, eof)
		}
		// Skipped space must reach the producer before this side sleeps.
		r.publishHead()
		if r.c.recv-r.c.waitedAt >= catchUpRun {
			// Streaming, and caught up with the producer: give it a
			// moment before looking again (see catchUpRun).
			r.c.waitedAt = r.c.recv
			r.catchUp()
			continue
		}
		r.c.waitedAt = r.c.recv
		pos := r.c.head
		err = r.dataWait.wait(ctx, waitOpts{
			budget: &r.c.spin,
			busy:   r.busy.Load(),
			ready: func() bool {
				return atomic.LoadUint64(r.hdr(pos&r.mask)) != 0 || r.isClosed()
			},
			check: func() error {
				if atomic.LoadUint64(r.hdr(pos&r.mask)) != 0 {
					return nil
				}
				return peerDead(r.peerForData, eof)
			},
		})
		if err != nil {
			if ctx.Err() != nil && err == ctx.Err() {
				return 0, err
			}
			// A dead peer: named with the ring. For a Conn the error
			// still matches io.EOF (never equals it: only a clean close
			// ends a stream as io.Reader's io.EOF does).
			return 0, r.err(op, err)
		}
	}
}

func (r *SPSC) closedErr(op string, eof bool) error {
	if eof {
		return eofError
	}
	return r.err(op, ErrClosed)
}

// Peek waits for the next message and returns it in place, without copying:
// the zero-copy way to receive. The slice is valid until Release, which must
// follow before the next Peek or Recv; Peek again without Release returns
// the same message. It returns ErrClosed once the ring is closed and every
// message committed before Close has been released, ErrPeerDied if the
// producer died and nothing is left to receive, ErrCorrupt if the ring holds
// bytes that are not a valid record, or ctx.Err().
func (r *SPSC) Peek(ctx context.Context) ([]byte, error) {
	return r.peek(ctx, "peek", false, false)
}

func (r *SPSC) peek(ctx context.Context, op string, try, eof bool) ([]byte, error) {
	if r.c.role {
		if n, ok := r.plain(); ok {
			start := r.c.head&r.mask + recHeader
			r.c.peeked = true
			r.c.peekSize = recordSize(int(n))
			return r.bytes(start, n), nil
		}
	}
	if !r.c.role {
		if err := r.claimConsumer(op); err != nil {
			return nil, err
		}
	}
	var h uint64
	var err error
	if try {
		if h, err = r.next(op); err != nil {
			return nil, err
		}
		if h == 0 && !r.isClosed() {
			r.publishHead()
			return nil, nil // nothing now
		}
		if h == 0 {
			// Closed: Close was stored after the last commit, look again.
			if h, err = r.next(op); err != nil {
				return nil, err
			}
			if h == 0 {
				return nil, r.closedErr(op, eof)
			}
		}
	} else {
		h, err = r.waitData(ctx, op, eof)
	}
	if err != nil {
		return nil, err
	}
	n := uint64(uint32(h))
	start := r.c.head&r.mask + recHeader + recPad(h)
	r.c.peeked = true
	r.c.peekSize = recordSize(int(n)) + recPad(h)
	return r.bytes(start, n), nil // next checked the record's bounds
}

// Release frees the message returned by Peek. It publishes the space to the
// producer with one store, and makes a system call only if the producer
// sleeps waiting for space. It panics if no message is peeked.
func (r *SPSC) Release() error {
	if !r.c.peeked {
		panic("ring: SPSC " + r.name + ": Release without Peek")
	}
	r.c.peeked = false
	r.c.head += r.c.peekSize
	r.c.recv++
	r.publishHead()
	return nil
}

// Recv waits for the next message and appends it to dst[:0], returning the
// result. Errors are those of Peek.
func (r *SPSC) Recv(ctx context.Context, dst []byte) ([]byte, error) {
	if r.c.role && !r.c.peeked {
		if n, ok := r.plain(); ok {
			start := r.c.head&r.mask + recHeader
			dst = append(dst[:0], r.bytes(start, n)...)
			r.c.head += recordSize(int(n))
			r.c.recv++
			r.publishHead()
			return dst, nil
		}
	}
	m, err := r.peek(ctx, "recv", false, false)
	if err != nil {
		return dst[:0], err
	}
	dst = append(dst[:0], m...)
	return dst, r.Release()
}

// TryRecv receives the next message if there is one now, appending it to
// dst[:0], and reports whether it did.
func (r *SPSC) TryRecv(dst []byte) ([]byte, bool, error) {
	m, err := r.peek(context.Background(), "recv", true, false)
	if err != nil || !r.c.peeked {
		return dst[:0], false, err
	}
	dst = append(dst[:0], m...)
	return dst, true, r.Release()
}

// RecvBatch waits for at least one message, then calls fn with each message
// queued, up to max (max ≤ 0: no limit), in place: msg is valid only during
// the call. It releases them all with one store and returns how many it
// handled. Errors are those of Peek; a message is released even if fn
// panics.
func (r *SPSC) RecvBatch(ctx context.Context, max int, fn func(msg []byte)) (int, error) {
	const op = "recv"
	if r.c.peeked {
		panic("ring: SPSC " + r.name + ": RecvBatch with a message peeked")
	}
	if !r.c.role {
		if err := r.claimConsumer(op); err != nil {
			return 0, err
		}
	}
	h, err := r.waitData(ctx, op, false)
	if err != nil {
		return 0, err
	}
	n := 0
	defer r.publishHead()
	for h != 0 {
		size, pad := uint64(uint32(h)), recPad(h)
		start := r.c.head&r.mask + recHeader + pad
		r.c.head += recordSize(int(size)) + pad
		r.c.recv++
		n++
		fn(r.data[start : start+size : start+size])
		if max > 0 && n >= max {
			break
		}
		if h, err = r.next(op); err != nil {
			return n, err
		}
	}
	return n, nil
}

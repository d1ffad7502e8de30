package event

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/futex"
	"github.com/shmkit/shmkit/internal/holders"
	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/proc"
	"github.com/shmkit/shmkit/internal/robust"
	"github.com/shmkit/shmkit/internal/spin"
	"github.com/shmkit/shmkit/shm"
)

// barrierLayout documents a Barrier object; the bar* constants are its field
// offsets, and a test keeps the two in agreement. Count and Seq are the low
// and high halves of one 64-bit state word, changed only together by
// compare-and-swap (the layout is little-endian, as on every platform
// shmkit supports).
type barrierLayout struct {
	Count   uint32             // arrivals in the current round
	Seq     uint32             // futex word: round (16 bits) | broken (1) | history (15)
	Parties uint32             // arrivals that complete a round; written by the creator
	Waiters uint32             // goroutines asleep, or about to sleep, in Wait
	_       [48]byte           // zero
	Members [holders.Size]byte // party table: the round each party process last arrived in
}

// Barrier field offsets (see barrierLayout).
const (
	barCount    = 0
	barSeq      = 4
	barParties  = 8
	barWaiters  = 12
	barMembers  = 64
	barState    = barCount // the 64-bit word made of Count and Seq
	barrierSize = barMembers + holders.Size
)

// State word fields. The high half (Seq) is the futex word: every change
// that a waiter must notice (a round ending, the barrier breaking) changes
// it, and an arrival that does not complete a round changes only Count.
const (
	stGenShift  = 48                // bits 63..48: the round number, mod 2^16
	stBroken    = uint64(1) << 47   // bit 47: the current round is broken
	stHistShift = 32                // bits 46..32: how the last 15 rounds ended
	stHistBits  = 15                // bit k: round (current-1-k) was broken (1) or completed (0)
	stHistMask  = 1<<stHistBits - 1 //
	stCountMask = 1<<32 - 1         // bits 31..0: arrivals in the current round
)

// Party tags, in the low bits of a party slot: the round it last arrived in,
// mod 1023, or arriving while it is between announcing its arrival and
// recording the round.
const (
	tagRounds = holders.MaxLow // 1023 round tags: 0..1022
	arriving  = holders.MaxLow // 1023
)

// MaxParties is the largest number of parties a Barrier can have.
const MaxParties = math.MaxInt32

// WatchedParties is the number of processes whose death a Barrier can
// detect; a party process beyond that many is not watched.
const WatchedParties = holders.Slots

func round(v uint64) uint16    { return uint16(v >> stGenShift) }
func roundTag(r uint16) uint64 { return uint64(r % tagRounds) }
func history(v uint64) uint64  { return v >> stHistShift & stHistMask }
func seqOf(v uint64) uint32    { return uint32(v >> 32) }
func arrivals(v uint64) uint32 { return uint32(v & stCountMask) }
func next(v uint64, broken bool) uint64 {
	h := history(v) << 1 & stHistMask
	if broken {
		h |= 1
	}
	return uint64(round(v)+1)<<stGenShift | h<<stHistShift
}

// Barrier makes a fixed number of parties — goroutines in any processes —
// wait for each other: each call to Wait blocks until Parties() calls are
// waiting, then all return, and the barrier is ready for the next round
// (Python's multiprocessing.Barrier, without the action). Its zero value is
// not usable: make one with NewBarrier or OpenBarrier. A handle is safe for
// concurrent use by the goroutines of one process.
type Barrier struct {
	_       layout.NoCopy
	state   *uint64
	seq     *uint32 // the high half of state
	waiters *uint32
	parties uint32
	members *holders.Table
	spin    spin.Budget
	seg     *shm.Segment
	name    string
	what    string // the object's name as errors show it

	lastSweep atomic.Int64 // Unix nanoseconds of this handle's last sweep
}

// NewBarrier creates a Barrier called name in seg for parties parties,
// 1 to MaxParties.
func NewBarrier(seg *shm.Segment, name string, parties int) (*Barrier, error) {
	if parties < 1 || parties > MaxParties {
		return nil, &shm.Error{Op: "create barrier", Segment: seg.Name(), Object: name, Offset: -1,
			Err: fmt.Errorf("event: %d parties, want 1 to %d", parties, MaxParties)}
	}
	if holders.SelfTag() == 0 {
		return nil, fmt.Errorf("event: process id does not fit in a party slot")
	}
	mem, err := seg.Alloc(name, shm.KindBarrier, barrierSize, 0, func(mem []byte) error {
		*layout.U32(mem, barParties) = uint32(parties)
		return nil // Alloc's release store publishes it
	})
	if err != nil {
		return nil, err
	}
	return newBarrier(mem, seg, name), nil
}

// OpenBarrier returns the Barrier called name in seg, created by NewBarrier
// in this or another process. It checks the object's size and its parties
// field and reports damage as shm.ErrCorrupt in an *shm.Error.
func OpenBarrier(seg *shm.Segment, name string) (*Barrier, error) {
	mem, err := seg.Lookup(name, shm.KindBarrier)
	if err != nil {
		return nil, err
	}
	if len(mem) < barrierSize {
		return nil, corrupt(seg, name, "open barrier", "", -1, "%d bytes, want %d", len(mem), barrierSize)
	}
	if p := atomic.LoadUint32(layout.U32(mem, barParties)); p < 1 || p > MaxParties {
		return nil, corrupt(seg, name, "open barrier", "parties", barParties, "%d parties", p)
	}
	if holders.SelfTag() == 0 {
		return nil, fmt.Errorf("event: process id does not fit in a party slot")
	}
	return newBarrier(mem, seg, name), nil
}

func newBarrier(mem []byte, seg *shm.Segment, name string) *Barrier {
	b := &Barrier{
		state:   layout.U64(mem, barState),
		waiters: layout.U32(mem, barWaiters),
		parties: atomic.LoadUint32(layout.U32(mem, barParties)),
		members: holders.New(mem[barMembers:barrierSize], holders.SelfTag()),
		seg:     seg,
		name:    name,
		what:    objectName(seg, name),
	}
	b.seq = (*uint32)(unsafe.Add(unsafe.Pointer(b.state), hiOffset))
	return b
}

// hiOffset is the offset of the high half of a 64-bit word: 4 on
// little-endian machines, 0 on big-endian ones.
var hiOffset = func() uintptr {
	x := uint64(1) << 32
	if *(*uint32)(unsafe.Pointer(&x)) == 1 {
		return 0
	}
	return 4
}()

// corrupt returns shm.ErrCorrupt in an *shm.Error naming the object and, when
// field is not "", the field and its offset in the segment.
func corrupt(seg *shm.Segment, name, op, field string, off int, format string, args ...any) error {
	e := &shm.Error{Op: op, Segment: seg.Name(), Object: name, Field: field, Offset: -1,
		Err: fmt.Errorf("%w: "+format, append([]any{shm.ErrCorrupt}, args...)...)}
	if field != "" {
		for _, o := range seg.Objects() {
			if o.Name == name {
				e.Offset = o.Offset + int64(off)
			}
		}
	}
	return e
}

// A round, with the steps labelled in the code below:
//
//	B1  a party marks its slot in the party table arriving (claiming a
//	    slot at its first Wait);
//	B2  it adds one to Count with a CAS on the state word; the arrival
//	    that makes Count reach Parties instead starts the next round:
//	    Count 0, round+1, history shifted with a 0 (completed);
//	B3  it records the round it arrived in, in its slot;
//	B4  the completing party loads Waiters and wakes them all;
//	B5  the others add one to Waiters, then sleep on Seq while it holds the
//	    value their CAS saw.
//
// A waiter woken with Seq changed reads how its round ended from Seq alone:
// the same round with the broken bit set means broken; a later round means
// the round ended, and history bit (later-round-1) says whether it completed
// or was broken and reset. Seq changes in the same CAS that decides the
// outcome, so no waiter can see a round end one way and be told another.
// B4 finds a waiter that registered in B5 before its load, and a waiter
// that registers after finds Seq changed: no wake-up is lost.
//
// Death: a party that dies leaves its slot naming it. B1 comes before B2,
// and B3 after, so a dead party's slot says arriving (it may or may not
// have arrived), or the last round it surely arrived in. Waiters blocked for
// 25 ms look at every slot not tagged with the current round: a dead party
// tagged arriving or with the previous round is one the current round waits
// for in vain, and they break the barrier; one tagged with an older round
// belonged to an earlier use of the barrier and its slot is silently freed.

// Wait blocks until b.Parties() goroutines (in any processes) are waiting on b,
// the barrier breaks, or ctx ends. On success it returns the caller's
// arrival index in this round, 0 for the first to arrive up to Parties()-1 for
// the last, distinct for every party, and the barrier is ready for the next
// round. It returns -1 and an error matching ErrBroken if the barrier is or
// becomes broken before the round completes (Abort, a party's cancelled
// context or death, Reset). It returns -1 and ctx.Err() if ctx ends first,
// and then it breaks the barrier for the others; if the round completes
// before the cancellation takes effect, Wait succeeds.
func (b *Barrier) Wait(ctx context.Context) (int, error) {
	b.sweep()
	slot := b.enter() // B1
	var v, nv uint64
	for {
		v = atomic.LoadUint64(b.state)
		c := arrivals(v)
		if v&stBroken != 0 {
			b.record(slot, round(v))
			return -1, b.broken()
		}
		if c >= b.parties {
			b.record(slot, round(v))
			return -1, corrupt(b.seg, b.name, "barrier wait", "count", barCount, "%d arrivals for %d parties", c, b.parties)
		}
		nv = v + 1
		if c+1 == b.parties {
			nv = next(v, false)
		}
		// B2. Acquire and release: the arrivals of this round are ordered,
		// and the completing CAS publishes every party's writes before
		// its Wait to every party after its Wait.
		if atomic.CompareAndSwapUint64(b.state, v, nv) {
			break
		}
	}
	b.record(slot, round(v)) // B3
	index := int(arrivals(v))
	if seqOf(nv) != seqOf(v) {
		// This arrival completed the round. B4.
		if atomic.LoadUint32(b.waiters) != 0 {
			futex.WakeAll(b.seq)
		}
		return index, nil
	}
	if err := b.wait(ctx, seqOf(v)); err != nil {
		return -1, err
	}
	return index, nil
}

// wait is B5: it sleeps until Seq leaves s, checking the parties every
// robust.CheckPeriod.
func (b *Barrier) wait(ctx context.Context, s uint32) error {
	var cur uint32
	ok, tok := b.spin.Spin(func() bool {
		cur = atomic.LoadUint32(b.seq)
		return cur != s
	})
	if ok {
		return b.outcome(s, cur)
	}
	defer b.spin.Waited(tok)
	// Publishes a sleeper to the completing party (B4).
	atomic.AddUint32(b.waiters, 1)
	defer atomic.AddUint32(b.waiters, ^uint32(0))
	lastCheck := time.Now()
	for {
		if cur := atomic.LoadUint32(b.seq); cur != s {
			return b.outcome(s, cur)
		}
		sleep := robust.CheckPeriod - time.Since(lastCheck)
		if sleep <= 0 {
			lastCheck = time.Now()
			b.checkParties(s, true)
			continue
		}
		if err := futex.WaitContext(ctx, b.seq, s, sleep); err != nil {
			if b.breakRound(s) {
				return err
			}
			// The round ended first: report how.
			if oerr := b.outcome(s, atomic.LoadUint32(b.seq)); oerr != nil {
				return err
			}
			return nil
		}
	}
}

// outcome says how the round whose Seq was s ended, given Seq is now cur.
func (b *Barrier) outcome(s, cur uint32) error {
	was, now := uint64(s)<<32, uint64(cur)<<32
	if round(now) == round(was) {
		return b.broken() // only the broken bit changes within a round
	}
	d := round(now) - round(was)
	if d <= stHistBits && history(now)>>(d-1)&1 != 0 {
		return b.broken()
	}
	// Completed; or more than 15 rounds passed while this waiter slept
	// (only possible when more goroutines than parties use the barrier),
	// which is taken as completed.
	return nil
}

func (b *Barrier) broken() error {
	return fmt.Errorf("%w (%s)", ErrBroken, b.what)
}

// breakRound breaks the round whose Seq is s, unless that round has already
// ended or broken, and reports whether it did.
func (b *Barrier) breakRound(s uint32) bool {
	for {
		v := atomic.LoadUint64(b.state)
		if seqOf(v) != s {
			return false
		}
		// Release: waiters that see the broken bit see it with the
		// round it broke.
		if atomic.CompareAndSwapUint64(b.state, v, v|stBroken) {
			b.wakeAll()
			return true
		}
	}
}

func (b *Barrier) wakeAll() {
	if atomic.LoadUint32(b.waiters) != 0 {
		futex.WakeAll(b.seq)
	}
}

// enter is B1: it marks this process's party slot arriving, claiming a free
// slot if this process has none, and returns the slot's index, or -1 when
// the table is full (this process is then not watched).
func (b *Barrier) enter() int {
	t := b.members
	self := t.Self()
	h := t.Hint()
	for k := 0; k < holders.Slots; k++ {
		i := (h + k) % holders.Slots
		p := t.Slot(i)
		for {
			v := atomic.LoadUint64(p)
			if holders.Tag(v) != self {
				break
			}
			if atomic.CompareAndSwapUint64(p, v, self|arriving) {
				t.SetHint(i)
				return i
			}
		}
	}
	s := t.Start()
	for k := 0; k < holders.Slots; k++ {
		i := (s + k) % holders.Slots
		p := t.Slot(i)
		// Claim: names this process as a party, arriving.
		if atomic.LoadUint64(p) == 0 && atomic.CompareAndSwapUint64(p, 0, self|arriving) {
			t.SetHint(i)
			return i
		}
	}
	return -1
}

// record is B3: it tags this process's slot with round r, unless the slot
// was freed meanwhile (Leave, or a waiter that took this process for dead).
func (b *Barrier) record(slot int, r uint16) {
	if slot < 0 {
		return
	}
	p := b.members.Slot(slot)
	self := b.members.Self()
	for {
		v := atomic.LoadUint64(p)
		if holders.Tag(v) != self {
			return
		}
		if atomic.CompareAndSwapUint64(p, v, self|roundTag(r)) {
			return
		}
	}
}

// checkParties looks at the parties of the round whose Seq is s: when
// breaking is set, a dead party that the round waits for breaks it; and the
// slots of dead parties of earlier uses of the barrier are freed.
func (b *Barrier) checkParties(s uint32, breaking bool) {
	r := round(uint64(s) << 32)
	cur, prev := roundTag(r), roundTag(r-1)
	self := b.members.Self()
	for i := 0; i < holders.Slots; i++ {
		p := b.members.Slot(i)
		v := atomic.LoadUint64(p)
		low := holders.Low(v)
		if v == 0 || holders.Tag(v) == self || low == cur {
			continue
		}
		missing := low == arriving || low == prev
		// Rounds behind r by 2 to 511 are stale. A tag further off is
		// taken to be ahead of r: rounds may have moved on since s was
		// loaded, and a party of a later round is not stale.
		stale := !missing && (cur+tagRounds-low)%tagRounds <= tagRounds/2
		if !(missing && breaking) && !stale {
			continue
		}
		if proc.Alive(holders.Owner(v)) {
			continue
		}
		if missing {
			// A dead party this round waits for: break the round first,
			// then forget the party, so that a round that ends anyway
			// keeps it for the next round's waiters to find.
			if !b.breakRound(s) && atomic.LoadUint32(b.seq) != s|uint32(stBroken>>32) {
				return
			}
		}
		atomic.CompareAndSwapUint64(p, v, 0)
	}
}

// sweep frees the slots of dead parties of earlier uses of the barrier, at
// most every robust.CheckPeriod per handle, so that a barrier whose rounds
// never block for long does not keep them until their round tags come round
// again.
func (b *Barrier) sweep() {
	now := time.Now().UnixNano()
	last := b.lastSweep.Load()
	if now-last < int64(robust.CheckPeriod) || !b.lastSweep.CompareAndSwap(last, now) {
		return
	}
	b.checkParties(seqOf(atomic.LoadUint64(b.state)), false)
}

// Abort breaks the barrier: every goroutine waiting on it, in every process,
// returns ErrBroken, and so does every later Wait until Reset.
func (b *Barrier) Abort() {
	for {
		v := atomic.LoadUint64(b.state)
		if v&stBroken != 0 {
			return
		}
		if atomic.CompareAndSwapUint64(b.state, v, v|stBroken) {
			b.wakeAll()
			return
		}
	}
}

// Reset makes the barrier usable again: it starts a new round with no
// arrivals and clears the broken state. Goroutines waiting on it when Reset
// is called, and those that were waiting when it broke, return ErrBroken.
//
// Reset also forgets every party, until it waits again: call it before a
// new set of processes uses a barrier whose previous parties have exited,
// so that their exits are not taken for deaths (or have each of them call
// Leave). A party killed between Reset and its next Wait is then not
// detected.
func (b *Barrier) Reset() {
	for {
		v := atomic.LoadUint64(b.state)
		if atomic.CompareAndSwapUint64(b.state, v, next(v, true)) {
			break
		}
	}
	// A new set of processes may use the barrier now: forget the parties
	// of the rounds before, so that one that has since exited (normally,
	// after ErrBroken) is not taken for a dead party of the next round.
	// A party that waits again registers again.
	for i := 0; i < holders.Slots; i++ {
		p := b.members.Slot(i)
		if v := atomic.LoadUint64(p); v != 0 {
			atomic.CompareAndSwapUint64(p, v, 0)
		}
	}
	b.wakeAll()
}

// Leave tells the barrier that this process will not call Wait again, so
// that its exit is not taken for the death of a party. Call it only when no
// goroutine of this process waits on the barrier or will again.
func (b *Barrier) Leave() {
	self := b.members.Self()
	for i := 0; i < holders.Slots; i++ {
		p := b.members.Slot(i)
		if v := atomic.LoadUint64(p); holders.Tag(v) == self {
			atomic.CompareAndSwapUint64(p, v, 0)
		}
	}
}

// Parties returns the number of parties the barrier waits for.
func (b *Barrier) Parties() int { return int(b.parties) }

// Waiting returns the number of parties that have arrived in the current
// round: a snapshot.
func (b *Barrier) Waiting() int { return int(arrivals(atomic.LoadUint64(b.state))) }

// Broken reports whether the barrier is broken: a snapshot.
func (b *Barrier) Broken() bool { return atomic.LoadUint64(b.state)&stBroken != 0 }

package semaphore

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/futex"
	"github.com/shmkit/shmkit/internal/holders"
	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/robust"
	"github.com/shmkit/shmkit/internal/spin"
	"github.com/shmkit/shmkit/shm"
)

// semLayout documents a Semaphore object; the off* constants are its field
// offsets, and a test keeps the two in agreement. A counting semaphore is
// the first cache line only; a bounded one adds the holder table.
type semLayout struct {
	Value    uint32             // futex word: units available
	Waiters  uint32             // goroutines asleep, or about to sleep, in Acquire
	Flags    uint32             // flagBounded, or 0
	Initial  uint32             // the initial value: a bounded semaphore's bound
	Overflow uint32             // bounded: units held by processes that found no holder slot
	_        [44]byte           // zero
	Holders  [holders.Size]byte // bounded: the units each process holds
}

// Semaphore field offsets (see semLayout).
const (
	offValue    = 0
	offWaiters  = 4
	offFlags    = 8
	offInitial  = 12
	offOverflow = 16
	offHolders  = 64

	sizeCounting = layout.CacheLine
	sizeBounded  = offHolders + holders.Size
)

// flagBounded marks a semaphore made by NewBounded.
const flagBounded = 1

// Limits.
const (
	// MaxValue is the largest value a semaphore can hold.
	MaxValue = 1<<31 - 1

	// RecordedHolders is the number of processes whose units a bounded
	// semaphore records at one time, so that it can give them back when
	// they die. A process holding units beyond that many has them recorded
	// only in a total, which is lost if it dies.
	RecordedHolders = holders.Slots
)

// Semaphore is a counting semaphore shared between processes: a count of
// units that Acquire takes one of, waiting while there are none, and Release
// gives back. Its zero value is not usable: make one with New, NewBounded or
// Open. A handle is safe for concurrent use by the goroutines of one
// process.
type Semaphore struct {
	_        layout.NoCopy
	value    *uint32
	waiters  *uint32
	overflow *uint32
	initial  uint32
	holders  *holders.Table // nil unless bounded
	spin     spin.Budget
	lastReap atomic.Int64 // Unix nanoseconds of this handle's last search for dead holders
	seg      *shm.Segment
	name     string
}

// New creates a counting semaphore called name in seg holding initial units,
// 0 to MaxValue. Release can raise it to MaxValue.
func New(seg *shm.Segment, name string, initial int) (*Semaphore, error) {
	return create(seg, name, initial, false)
}

// NewBounded creates a bounded semaphore called name in seg holding initial
// units, 0 to MaxValue: a Release that would raise it above initial fails
// with ErrOverRelease (Python's BoundedSemaphore). A bounded semaphore also
// records which processes hold its units, and gives back the units of a
// process that dies holding them (see the package documentation).
func NewBounded(seg *shm.Segment, name string, initial int) (*Semaphore, error) {
	return create(seg, name, initial, true)
}

func create(seg *shm.Segment, name string, initial int, bounded bool) (*Semaphore, error) {
	if initial < 0 || initial > MaxValue {
		return nil, &shm.Error{Op: "create semaphore", Segment: seg.Name(), Object: name, Offset: -1,
			Err: fmt.Errorf("semaphore: initial value %d out of range [0, %d]", initial, MaxValue)}
	}
	if bounded && holders.SelfTag() == 0 {
		return nil, fmt.Errorf("semaphore: process id does not fit in a holder slot")
	}
	size, flags := sizeCounting, uint32(0)
	if bounded {
		size, flags = sizeBounded, flagBounded
	}
	mem, err := seg.Alloc(name, shm.KindSemaphore, size, 0, func(mem []byte) error {
		*layout.U32(mem, offValue) = uint32(initial)
		*layout.U32(mem, offFlags) = flags
		*layout.U32(mem, offInitial) = uint32(initial)
		return nil // Alloc's release store publishes these
	})
	if err != nil {
		return nil, err
	}
	return newSemaphore(mem, seg, name), nil
}

// Open returns the semaphore called name in seg, created by New or
// NewBounded in this or another process. It checks the object's size and
// fields and reports damage as shm.ErrCorrupt in an *shm.Error.
func Open(seg *shm.Segment, name string) (*Semaphore, error) {
	mem, err := seg.Lookup(name, shm.KindSemaphore)
	if err != nil {
		return nil, err
	}
	if len(mem) < sizeCounting {
		return nil, corrupt(seg, name, "open semaphore", "", -1, "%d bytes, want at least %d", len(mem), sizeCounting)
	}
	flags := atomic.LoadUint32(layout.U32(mem, offFlags))
	initial := atomic.LoadUint32(layout.U32(mem, offInitial))
	value := atomic.LoadUint32(layout.U32(mem, offValue))
	switch {
	case flags&^flagBounded != 0:
		return nil, corrupt(seg, name, "open semaphore", "flags", offFlags, "unknown flags %#x", flags)
	case flags == flagBounded && len(mem) < sizeBounded:
		return nil, corrupt(seg, name, "open semaphore", "", -1, "%d bytes, want %d for a bounded semaphore", len(mem), sizeBounded)
	case initial > MaxValue:
		return nil, corrupt(seg, name, "open semaphore", "initial", offInitial, "%d is above %d", initial, MaxValue)
	case value > MaxValue || (flags == flagBounded && value > initial):
		return nil, corrupt(seg, name, "open semaphore", "value", offValue, "%d is above its bound", value)
	case flags == flagBounded && holders.SelfTag() == 0:
		return nil, fmt.Errorf("semaphore: process id does not fit in a holder slot")
	}
	return newSemaphore(mem, seg, name), nil
}

func newSemaphore(mem []byte, seg *shm.Segment, name string) *Semaphore {
	s := &Semaphore{
		value:    layout.U32(mem, offValue),
		waiters:  layout.U32(mem, offWaiters),
		overflow: layout.U32(mem, offOverflow),
		initial:  atomic.LoadUint32(layout.U32(mem, offInitial)),
		seg:      seg,
		name:     name,
	}
	if atomic.LoadUint32(layout.U32(mem, offFlags)) == flagBounded {
		s.holders = holders.New(mem[offHolders:sizeBounded], holders.SelfTag())
	}
	return s
}

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

// The interleaving that loses no wake-up, with the steps labelled below:
//
//	A1  a waiter adds one to Waiters;
//	A2  it loads Value, and sleeps on Value while it is still 0.
//	R1  a releaser adds one to Value (CAS);
//	R2  it loads Waiters, and wakes one sleeper if it is not 0.
//
// Go's atomics are sequentially consistent: if R2 finds no waiter, A1 comes
// after it, so A2 sees R1's unit. Release makes no system call when no one
// waits. A bounded semaphore records a unit in the holder table after taking
// it from Value, and takes the record out before giving the unit back (see
// the package documentation for why that order).

// Acquire takes one unit, blocking until one is available or ctx ends. On
// success it returns nil and the caller holds the unit until it calls
// Release. On failure it returns ctx.Err() and leaves the semaphore
// unchanged. If ctx is already done, Acquire may still succeed without
// blocking.
//
// A blocked Acquire on a bounded semaphore checks every 25 ms whether a
// process that holds units has died, and gives its units back.
func (s *Semaphore) Acquire(ctx context.Context) error {
	// A counting semaphore's fast path: one load and one CAS. Acquire:
	// the releaser's writes before its Release are visible.
	if v := atomic.LoadUint32(s.value); v != 0 && s.holders == nil && atomic.CompareAndSwapUint32(s.value, v, v-1) {
		return nil
	}
	return s.acquireSlow(ctx)
}

// take takes one unit if there is one, retrying when the CAS loses a race.
func (s *Semaphore) take() bool {
	for {
		v := atomic.LoadUint32(s.value)
		if v == 0 {
			return false
		}
		if atomic.CompareAndSwapUint32(s.value, v, v-1) {
			if s.holders != nil {
				s.record()
			}
			return true
		}
	}
}

// record notes one more unit held by this process: in its holder slot, or
// in Overflow when the table is full.
func (s *Semaphore) record() {
	if i, _ := s.holders.Inc(); i < 0 {
		atomic.AddUint32(s.overflow, 1)
	}
}

func (s *Semaphore) acquireSlow(ctx context.Context) error {
	if s.take() {
		return nil
	}
	ok, tok := s.spin.Spin(func() bool { return atomic.LoadUint32(s.value) != 0 && s.take() })
	if ok {
		return nil
	}
	defer s.spin.Waited(tok)
	// Sleeps are bounded: a bounded semaphore looks for dead holders every
	// CheckPeriod, and a releaser killed between its CAS and its wake
	// delays a sleeper by at most that long.
	const maxSleep = robust.CheckPeriod
	for {
		if s.take() {
			return nil
		}
		// A1. Publishes a sleeper to releasers (R2).
		atomic.AddUint32(s.waiters, 1)
		var err error
		if atomic.LoadUint32(s.value) == 0 { // A2
			err = futex.WaitContext(ctx, s.value, 0, maxSleep)
		}
		atomic.AddUint32(s.waiters, ^uint32(0))
		if err != nil {
			// A wake-up meant for this waiter may have arrived with the
			// cancellation: pass it on.
			if atomic.LoadUint32(s.value) != 0 && atomic.LoadUint32(s.waiters) != 0 {
				futex.Wake(s.value, 1)
			}
			return err
		}
		if s.holders != nil && atomic.LoadUint32(s.value) == 0 {
			s.reapEvery(robust.CheckPeriod)
		}
	}
}

// TryAcquire takes one unit if one is available, without blocking, and
// reports whether it did. On a bounded semaphore with no unit available it
// looks for dead holders at most every 25 ms per handle, a bounded amount of
// work.
func (s *Semaphore) TryAcquire() bool {
	if v := atomic.LoadUint32(s.value); v != 0 && s.holders == nil && atomic.CompareAndSwapUint32(s.value, v, v-1) {
		return true
	}
	return s.tryAcquireSlow()
}

func (s *Semaphore) tryAcquireSlow() bool {
	if s.take() {
		return true
	}
	if s.holders == nil || !s.reapEvery(robust.CheckPeriod) {
		return false
	}
	return s.take()
}

// reapEvery gives back the units of dead holders if this handle has not
// looked for them in the last period, and reports whether it gave any back.
func (s *Semaphore) reapEvery(period time.Duration) bool {
	now := time.Now().UnixNano()
	last := s.lastReap.Load()
	if now-last < int64(period) || !s.lastReap.CompareAndSwap(last, now) {
		return false
	}
	n, _ := s.holders.Reap()
	if n == 0 {
		return false
	}
	// The dead holders' records are gone (the CAS in Reap); now their
	// units come back. Never above the bound, whatever the table said.
	for {
		v := atomic.LoadUint32(s.value)
		nv := uint64(v) + uint64(n)
		if nv > uint64(s.initial) {
			nv = uint64(s.initial)
		}
		if atomic.CompareAndSwapUint32(s.value, v, uint32(nv)) {
			break
		}
	}
	if atomic.LoadUint32(s.waiters) != 0 {
		futex.Wake(s.value, n)
	}
	return true
}

// Release gives back one unit, waking one goroutine blocked in Acquire if
// there is one. It returns ErrOverRelease, and changes nothing, if that
// would raise a bounded semaphore above its initial value or any semaphore
// above MaxValue. Any goroutine of any process may release a unit, whoever
// acquired it.
//
// On a bounded semaphore, Release takes the unit out of the calling
// process's holder record; a process that holds none releases one recorded
// against another process (see the package documentation).
func (s *Semaphore) Release() error {
	bound := uint32(MaxValue)
	if s.holders != nil {
		bound = s.initial
		s.unrecord()
	}
	for {
		v := atomic.LoadUint32(s.value)
		if v >= bound {
			if s.holders != nil && v > bound {
				return corrupt(s.seg, s.name, "release semaphore", "value", offValue, "%d is above its bound %d", v, bound)
			}
			return fmt.Errorf("%w (%s: value %d, at most %d)", ErrOverRelease, strconv.Quote(s.name), v, bound)
		}
		// R1. Release: the caller's writes before Release are visible to
		// the goroutine that acquires this unit.
		if atomic.CompareAndSwapUint32(s.value, v, v+1) {
			break
		}
	}
	if testHookRelease != nil {
		testHookRelease()
	}
	if atomic.LoadUint32(s.waiters) != 0 { // R2
		futex.Wake(s.value, 1)
	}
	return nil
}

// testHookRelease, set by tests only, runs between Release's CAS and its
// wake: a test stops a child there and kills it.
var testHookRelease func()

// unrecord takes one unit out of the holder records: this process's slot,
// else Overflow, else any process's slot. When there is none (units lost to
// a death the table could not see), there is nothing to take out.
func (s *Semaphore) unrecord() {
	if ok, _ := s.holders.Dec(); ok {
		return
	}
	for {
		o := atomic.LoadUint32(s.overflow)
		if o == 0 {
			break
		}
		if atomic.CompareAndSwapUint32(s.overflow, o, o-1) {
			return
		}
	}
	s.holders.DecAny()
}

// Value returns the number of units available: a snapshot, for diagnostics
// and tests.
func (s *Semaphore) Value() int {
	return int(atomic.LoadUint32(s.value))
}

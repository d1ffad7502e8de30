package event

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/futex"
	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/robust"
	"github.com/shmkit/shmkit/internal/spin"
	"github.com/shmkit/shmkit/shm"
)

// eventLayout documents an Event object; the ev* constants are its field
// offsets, and a test keeps the two in agreement.
type eventLayout struct {
	State   uint32   // futex word: bit 0 set; bits 31..1 count the Sets that found it clear
	Waiters uint32   // goroutines asleep, or about to sleep, in Wait
	_       [56]byte // zero
}

// Event field offsets (see eventLayout).
const (
	evState   = 0
	evWaiters = 4
	eventSize = layout.CacheLine
)

// evSet is the State bit that says the event is set.
const evSet = 1

// Event is a flag shared between processes that goroutines can wait for:
// Python's multiprocessing.Event. Set raises it and wakes every waiter in
// every process, Clear lowers it, Wait blocks until it is raised. Its zero
// value is not usable: make one with New or Open. A handle is safe for
// concurrent use by the goroutines of one process.
type Event struct {
	_       layout.NoCopy
	state   *uint32
	waiters *uint32
	spin    spin.Budget
}

// New creates a clear Event called name in seg.
func New(seg *shm.Segment, name string) (*Event, error) {
	mem, err := seg.Alloc(name, shm.KindEvent, eventSize, 0, nil) // zero is clear
	if err != nil {
		return nil, err
	}
	return newEvent(mem), nil
}

// Open returns the Event called name in seg, created by New in this or
// another process.
func Open(seg *shm.Segment, name string) (*Event, error) {
	mem, err := seg.Lookup(name, shm.KindEvent)
	if err != nil {
		return nil, err
	}
	if len(mem) < eventSize {
		return nil, &shm.Error{Op: "open event", Segment: seg.Name(), Object: name, Offset: -1,
			Err: fmt.Errorf("%w: %d bytes, want %d", shm.ErrCorrupt, len(mem), eventSize)}
	}
	return newEvent(mem), nil
}

func newEvent(mem []byte) *Event {
	return &Event{state: layout.U32(mem, evState), waiters: layout.U32(mem, evWaiters)}
}

// The interleaving that loses no wake-up, with the steps labelled below:
//
//	E1  a waiter loads State and finds it clear, with value s;
//	E2  it adds one to Waiters;
//	E3  it sleeps on State while State still holds s.
//	S1  Set changes State from clear to set, adding 2 (a new Set count);
//	S2  then loads Waiters, and wakes every sleeper if it is not 0.
//
// If S2 finds no waiter, E2 and so E3 come after S1: the futex wait finds
// State changed. Every Set changes State's count, so a waiter that sees any
// value other than s knows a Set happened since E1, even if a Clear has
// lowered the flag again before it ran: Set followed at once by Clear still
// releases every goroutine that was waiting. (The count wraps after 2^31
// Sets; a waiter that sleeps through exactly 2^31 Set-Clear pairs would miss
// them.)

// Set raises the event and wakes every goroutine waiting for it, in every
// process. Setting an event that is set changes nothing and makes no system
// call; setting one that nobody waits for makes none either.
func (e *Event) Set() {
	// Acquire: a set flag seen here was set with the setter's writes.
	if atomic.LoadUint32(e.state)&evSet == 0 {
		e.set()
	}
}

func (e *Event) set() {
	for {
		v := atomic.LoadUint32(e.state)
		if v&evSet != 0 {
			return
		}
		// S1. Release: the setter's writes before Set are visible to
		// every waiter that sees the flag.
		if atomic.CompareAndSwapUint32(e.state, v, (v+2)|evSet) {
			break
		}
	}
	if testHookSet != nil {
		testHookSet()
	}
	if atomic.LoadUint32(e.waiters) != 0 { // S2
		futex.WakeAll(e.state)
	}
}

// Clear lowers the event. Goroutines that call Wait afterwards block until
// the next Set.
func (e *Event) Clear() {
	for {
		v := atomic.LoadUint32(e.state)
		if v&evSet == 0 || atomic.CompareAndSwapUint32(e.state, v, v&^evSet) {
			return
		}
	}
}

// IsSet reports whether the event is set.
func (e *Event) IsSet() bool {
	return atomic.LoadUint32(e.state)&evSet != 0
}

// Wait blocks until the event is set or ctx ends. It returns nil if the
// event was set when it was called, or was Set while it waited (even if it
// was cleared again before Wait returned), and ctx.Err() if ctx ended
// first. It changes nothing in the event. If ctx is already done and the
// event is set, Wait returns nil.
func (e *Event) Wait(ctx context.Context) error {
	// E1. Acquire: a setter's writes before Set are visible.
	s := atomic.LoadUint32(e.state)
	if s&evSet != 0 {
		return nil
	}
	return e.waitSlow(ctx, s)
}

func (e *Event) waitSlow(ctx context.Context, s uint32) error {
	ok, tok := e.spin.Spin(func() bool { return atomic.LoadUint32(e.state) != s })
	if ok {
		return nil
	}
	defer e.spin.Waited(tok)
	// E2. Publishes a sleeper to Set (S2).
	atomic.AddUint32(e.waiters, 1)
	defer atomic.AddUint32(e.waiters, ^uint32(0))
	for atomic.LoadUint32(e.state) == s {
		// E3. The sleep is bounded so that a setter killed between its
		// CAS and its wake delays this waiter by at most CheckPeriod.
		if err := futex.WaitContext(ctx, e.state, s, robust.CheckPeriod); err != nil {
			if atomic.LoadUint32(e.state) != s {
				return nil // set before the cancellation took effect
			}
			return err
		}
	}
	return nil
}

// testHookSet, set by tests only, runs between Set's CAS and its wake: a
// test stops a child there and kills it.
var testHookSet func()

// objectName is how an object appears in error messages.
func objectName(seg *shm.Segment, name string) string {
	if seg.Name() == "" {
		return strconv.Quote(name)
	}
	return strconv.Quote(seg.Name()) + "/" + strconv.Quote(name)
}

package lock

import (
	"context"
	"fmt"
	"strconv"
	"unsafe"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/robust"
	"github.com/shmkit/shmkit/internal/spin"
	"github.com/shmkit/shmkit/shm"
)

// mutexSize is the size of a Mutex object: the lock word on its own cache
// line.
const mutexSize = layout.CacheLine

// Mutex is a mutual-exclusion lock shared between processes, which survives
// the death of its holder. Its zero value is not usable: make one with
// NewMutex, OpenMutex or MutexAt. A Mutex handle is safe for concurrent use
// by the goroutines of one process; the lock itself excludes every goroutine
// of every process.
//
// It is not reentrant: a goroutine that locks a Mutex it holds deadlocks
// (see the package documentation).
type Mutex struct {
	_    layout.NoCopy
	r    robust.Mutex
	spin spin.Budget
	what string // "lock: Mutex <name>", for panic messages
}

// NewMutex creates an unlocked Mutex called name in seg.
func NewMutex(seg *shm.Segment, name string) (*Mutex, error) {
	mem, err := seg.Alloc(name, shm.KindMutex, mutexSize, 0, nil) // zero is unlocked
	if err != nil {
		return nil, err
	}
	return newMutex(mem, objectName(seg, name)), nil
}

// OpenMutex returns the Mutex called name in seg, created by NewMutex in this
// or another process.
func OpenMutex(seg *shm.Segment, name string) (*Mutex, error) {
	mem, err := seg.Lookup(name, shm.KindMutex)
	if err != nil {
		return nil, err
	}
	if len(mem) < mutexSize {
		return nil, &shm.Error{Op: "open mutex", Segment: seg.Name(), Object: name, Offset: -1,
			Err: fmt.Errorf("%w: %d bytes, want %d", shm.ErrCorrupt, len(mem), mutexSize)}
	}
	return newMutex(mem, objectName(seg, name)), nil
}

// MutexAt returns a Mutex whose lock word is the first 8 bytes of mem, for
// objects that embed a lock in their own layout (value.Value does). mem must
// be at least 8 bytes, 8-byte aligned, inside a shared mapping, and zero
// before first use (zero is unlocked). name appears in panic messages.
func MutexAt(mem []byte, name string) (*Mutex, error) {
	if len(mem) < 8 || uintptr(unsafe.Pointer(&mem[0]))%8 != 0 {
		return nil, fmt.Errorf("lock: MutexAt %s: want 8 aligned bytes, got %d bytes at %p", name, len(mem), mem)
	}
	return newMutex(mem, name), nil
}

func newMutex(mem []byte, name string) *Mutex {
	m := &Mutex{what: "lock: Mutex " + name}
	m.r = robust.Mutex{Word: layout.U64(mem, 0), Budget: &m.spin}
	return m
}

func objectName(seg *shm.Segment, name string) string {
	if seg.Name() == "" {
		return strconv.Quote(name)
	}
	return strconv.Quote(seg.Name()) + "/" + strconv.Quote(name)
}

// Lock locks m, waiting as long as it takes. If the holder died holding it,
// Lock takes it over silently; use LockContext to learn of that.
func (m *Mutex) Lock() {
	m.r.Lock(context.Background())
}

// LockContext locks m, waiting until it is free, its holder has died, or ctx
// ends. It returns nil when it took a free lock; ErrOwnerDead when it took
// the lock from a holder that died (the lock IS held by the caller: repair
// what it protects, then Unlock); or ctx.Err(), and then the lock is not
// held.
//
// A holder's death is noticed within about 25 ms by a waiter that is
// blocked, and nothing is needed from the dead process: the lock word holds
// the holder's pid and start time, which the waiter checks against /proc.
func (m *Mutex) LockContext(ctx context.Context) error {
	dead, err := m.r.Lock(ctx)
	if err != nil {
		return err
	}
	if dead {
		return ErrOwnerDead
	}
	return nil
}

// TryLock locks m if it is free, without waiting, and reports whether it
// did. It does not take over a lock whose holder died.
func (m *Mutex) TryLock() bool {
	return m.r.TryLock()
}

// Unlock unlocks m. Any goroutine of the holding process may unlock it, as
// with sync.Mutex. It panics if m is not locked, or is locked by another
// process: both are bugs that would otherwise break mutual exclusion
// silently.
func (m *Mutex) Unlock() {
	m.r.Unlock(m.what)
}

// Holder returns the process id of the process holding m, or 0 when m is
// free. It is a snapshot, for diagnostics.
func (m *Mutex) Holder() int {
	return m.r.Holder().Pid()
}

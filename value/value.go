package value

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/typelayout"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
)

// ErrUnsupportedType reports a type parameter that cannot live in shared
// memory: one that holds a pointer, string, slice, map, interface, channel,
// function or unsafe.Pointer at any depth. The error's text names the
// offending field. array.ErrUnsupportedType is the same error.
var ErrUnsupportedType = typelayout.ErrType

// Value is a T in shared memory, with a robust lock of its own: Python's
// multiprocessing.Value, typed. Make one with New or Open; the zero Value
// is not usable.
//
// Load never blocks and never returns a half-written T, whatever T's size;
// Store and Update take the value's lock, so that an Update's
// read-modify-write never loses a concurrent Store. A Value handle is safe
// for concurrent use by the goroutines of one process.
type Value[T any] struct {
	_      layout.NoCopy
	mode   int            // modeWord32, modeWord64 or modeSeq
	size   int            // unsafe.Sizeof(T)
	stride int            // bytes in a slot: size rounded up to words
	seq    *uint64        // the sequence (modeSeq)
	slot0  unsafe.Pointer // the word (word modes), or slot 0
	slot1  unsafe.Pointer // slot 1 (modeSeq)
	mu     *lock.Mutex    // the value's lock, inside its object
	bufs   sync.Pool      // of *T: Update's working copies

	fallbacks atomic.Uint64 // reads that fell back to the lock, for tests
}

// New creates a Value called name in seg, holding the zero T.
//
// T must be a fixed-size type without pointers: booleans, numbers, and
// arrays and structs of those, nested to any depth. Any other T is refused
// with an error wrapping ErrUnsupportedType that names the offending field,
// such as
//
//	value: type main.Config: field Inner.Names is a []string: only fixed-size types without pointers can live in shared memory
//
// The object records T's size, alignment and fingerprint (see the package
// documentation), which Open checks.
func New[T any](seg *shm.Segment, name string) (*Value[T], error) {
	l, err := typelayout.Of[T]()
	if err != nil {
		return nil, fmt.Errorf("value: %w", err)
	}
	mem, err := create(seg, name, formValue, l)
	if err != nil {
		return nil, err
	}
	return newValue[T](seg, name, mem, l)
}

// Open returns the Value called name in seg, created by New[T] in this or
// another process. It returns an error wrapping shm.ErrWrongKind, which
// says what differs, when the object is not a Value or was created for a
// type of another size, alignment or layout; and shm.ErrCorrupt, in a
// *shm.Error naming the field, when the object's header is damaged.
func Open[T any](seg *shm.Segment, name string) (*Value[T], error) {
	l, err := typelayout.Of[T]()
	if err != nil {
		return nil, fmt.Errorf("value: %w", err)
	}
	mem, err := open(seg, name, formValue, l)
	if err != nil {
		return nil, err
	}
	return newValue[T](seg, name, mem, l)
}

func newValue[T any](seg *shm.Segment, name string, mem []byte, l *typelayout.Layout) (*Value[T], error) {
	mu, err := lock.MutexAt(mem[offLock:offLock+8], objectName(seg, name)+".lock")
	if err != nil {
		return nil, err
	}
	stride, _ := slotSize(l.Size) // objectSize checked it
	v := &Value[T]{
		mode:   modeFor(l.Size),
		size:   int(l.Size),
		stride: int(stride),
		seq:    layout.U64(mem, offSeq),
		slot0:  unsafe.Pointer(&mem[offData]),
		mu:     mu,
	}
	v.bufs.New = func() any { return new(T) }
	if v.mode == modeSeq {
		v.slot1 = unsafe.Pointer(&mem[offData+stride])
	}
	return v, nil
}

// Load returns the value. It never blocks on a writer and never returns a
// half-written T.
//
// For a T of at most 8 bytes it is one atomic load. For a larger T it reads
// a seqlock (package documentation): it copies the T and retries if a
// writer changed it meanwhile, at most 100 times; then it waits for the
// value's lock and reads under it, which only writers that keep the
// sequence moving that long make it do.
func (v *Value[T]) Load() T {
	switch v.mode {
	case modeWord64:
		// Acquire: pairs with the atomic store of the last Store or Update.
		w := atomic.LoadUint64((*uint64)(v.slot0))
		return *(*T)(unsafe.Pointer(&w))
	case modeWord32:
		// Acquire, as above.
		w := atomic.LoadUint32((*uint32)(v.slot0))
		return *(*T)(unsafe.Pointer(&w))
	}
	return v.loadSeq()
}

// Store sets the value to x. It takes the value's lock, and holds it for
// one atomic store for a T of at most 8 bytes, or for a seqlock write.
//
// Do not call Store (or Update) while holding the lock from Locker: the lock
// is not reentrant, and the call would wait for itself. Inside Update,
// assign through the pointer instead.
func (v *Value[T]) Store(x T) {
	v.mu.Lock()
	v.store(&x)
	v.mu.Unlock()
}

// store publishes *x, the caller holding the lock.
func (v *Value[T]) store(x *T) {
	switch v.mode {
	case modeWord64:
		var w uint64
		*(*T)(unsafe.Pointer(&w)) = *x
		// Release: publishes the new value to Load.
		atomic.StoreUint64((*uint64)(v.slot0), w)
	case modeWord32:
		var w uint32
		*(*T)(unsafe.Pointer(&w)) = *x
		// Release, as above.
		atomic.StoreUint32((*uint32)(v.slot0), w)
	default:
		v.storeSeq(bytesOf(x, v.size))
	}
}

// Update calls fn with a pointer to a copy of the value, under the value's
// lock, and stores what fn leaves there: an atomic read-modify-write, the
// shape of Python's "with v.get_lock(): v.value += 1". No Store or other
// Update, in any process, comes between its read and its write. Load
// returns the old value until fn returns.
//
// If fn panics, the value is unchanged and the lock released. fn must not
// keep the pointer, nor call Store or Update on the same value (the lock
// is not reentrant). A process killed while in fn leaves the value as it
// was, and its lock to be taken over by the next locker.
func (v *Value[T]) Update(fn func(*T)) {
	// The copy comes from a pool, not from a field of the handle, so that
	// goroutines that take turns on the lock share no Go memory: the race
	// detector cannot see the lock's synchronisation, which happens in
	// shared memory.
	x := v.bufs.Get().(*T) // back in the pool unless fn panics
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.mode == modeSeq {
		v.loadHeld(bytesOf(x, v.size))
	} else {
		*x = v.Load()
	}
	fn(x)
	v.store(x)
	v.bufs.Put(x)
}

// Locker returns the value's lock, Python's get_lock(): hold it to make
// several operations on this and other objects one critical section. It is
// a *lock.Mutex built on a word inside the value's object, so
//
//	m := v.Locker().(*lock.Mutex)
//	err := m.LockContext(ctx) // nil, lock.ErrOwnerDead or ctx.Err()
//
// gives the context and owner-death forms. Store and Update take this
// lock: do not call them while holding it. Load does not.
//
// Under -race the lock also tells the race detector of the ordering it
// gives between the goroutines of this process, so Go memory guarded by it
// alone is not reported as racing; the detector never sees other
// processes' accesses.
func (v *Value[T]) Locker() sync.Locker {
	return v.mu
}

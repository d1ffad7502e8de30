package array

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/typelayout"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
)

// ErrUnsupportedType reports an element type that cannot live in shared
// memory: one that holds a pointer, string, slice, map, interface, channel,
// function or unsafe.Pointer at any depth. The error's text names the
// offending field. It is the same error as value.ErrUnsupportedType.
var ErrUnsupportedType = typelayout.ErrType

// object documents the bytes of an array object (shm.KindArray); the off*
// constants below are its field offsets, and a test keeps the two in
// agreement.
type object struct {
	Header [typelayout.HeaderSize]byte // typelayout header: form 1, align, size, count, fingerprint, check
	Lock   uint64                      // robust lock word; its own cache line
	_      [56]byte                    //
	Data   [8]byte                     // the elements, count × size bytes, from here
}

// Array object field offsets (see object).
const (
	offLock = 64
	offData = 128
)

// formArray is the form of an array object: the only one so far. The
// number is part of the layout and never changes.
const formArray = 1

// Array is a fixed-length array of T in shared memory, with a robust lock
// of its own: Python's multiprocessing.Array, typed, and its elements a Go
// slice away. Make one with New or Open; the zero Array is not usable. An
// Array handle is safe for concurrent use by the goroutines of one process.
type Array[T any] struct {
	_    layout.NoCopy
	s    []T         // the elements, in the mapping
	word int         // 4 or 8: At and Set are one atomic operation; 0: plain copies
	mu   *lock.Mutex // the array's lock, inside its object
}

// New creates an Array of n elements called name in seg, all zero.
//
// T must be a fixed-size type without pointers: booleans, numbers, and
// arrays and structs of those, nested to any depth. Any other T is refused
// with an error wrapping ErrUnsupportedType that names the offending field.
// The object records T's size, alignment and fingerprint, and n, which Open
// checks. It takes 128 + n × unsafe.Sizeof(T) bytes of the segment: an
// array may be as large as the segment can hold; shm.ErrNoSpace says when
// it cannot.
func New[T any](seg *shm.Segment, name string, n int) (*Array[T], error) {
	const op = "create array"
	l, err := typelayout.Of[T]()
	if err != nil {
		return nil, fmt.Errorf("array: %w", err)
	}
	if n < 0 {
		return nil, &shm.Error{Op: op, Segment: seg.Name(), Object: name, Offset: -1, Err: fmt.Errorf("negative length %d", n)}
	}
	size, ok := objectSize(offData, l.Size, uint64(n))
	if !ok {
		return nil, &shm.Error{Op: op, Segment: seg.Name(), Object: name, Offset: -1,
			Err: fmt.Errorf("%w: %d elements of %d bytes do not fit in memory", shm.ErrNoSpace, n, l.Size)}
	}
	mem, err := seg.Alloc(name, shm.KindArray, size, 0, func(mem []byte) error {
		typelayout.Put(mem, l.Header(formArray, uint64(n)))
		return nil // Alloc zeroed the elements
	})
	if err != nil {
		return nil, err
	}
	return newArray[T](seg, name, mem, n, l)
}

// Open returns the Array called name in seg, created by New[T] in this or
// another process. It returns an error wrapping shm.ErrWrongKind, which says
// what differs, when the object is not an Array or was created for an
// element type of another size, alignment or layout; and shm.ErrCorrupt, in
// a *shm.Error naming the field, when the object's header is damaged or its
// elements would not fit in it.
func Open[T any](seg *shm.Segment, name string) (*Array[T], error) {
	const op = "open array"
	l, err := typelayout.Of[T]()
	if err != nil {
		return nil, fmt.Errorf("array: %w", err)
	}
	mem, h, err := lookup(seg, name, op, shm.KindArray, formArray, bounds, l)
	if err != nil {
		return nil, err
	}
	return newArray[T](seg, name, mem, int(h.Count), l) // bounds keeps Count within an int
}

// lookup returns the memory and header of the object called name in seg,
// of kind and form, once typelayout.Check (with bounds) has passed its
// header and it was created for l's type. Open and OpenList use it.
func lookup(seg *shm.Segment, name, op string, kind shm.Kind, form uint32,
	bounds func(typelayout.Header, int) *typelayout.Fault, l *typelayout.Layout) ([]byte, typelayout.Header, error) {
	mem, err := seg.Lookup(name, kind)
	if err != nil {
		return nil, typelayout.Header{}, err
	}
	h, f := typelayout.Check(mem, func(got uint32) bool { return got == form }, bounds)
	if f != nil {
		return nil, h, f.Report(op, seg, name)
	}
	if err := l.Match(h); err != nil {
		return nil, h, &shm.Error{Op: op, Segment: seg.Name(), Object: name, Offset: -1, Err: err}
	}
	return mem, h, nil
}

// bounds checks that an array object's header describes elements that fit
// in the object's size bytes (see countFits).
func bounds(h typelayout.Header, size int) *typelayout.Fault {
	return countFits(offData, h, size)
}

// countFits checks that the header's elements, starting at offset off, fit
// in an object of size bytes, and that there are no more of them than an
// int counts (Len's type: elements of a zero-size type fit in any object,
// however many).
func countFits(off uint64, h typelayout.Header, size int) *typelayout.Fault {
	if h.Count > math.MaxInt {
		return typelayout.Faultf("count", typelayout.OffCount, "%d elements: more than an int counts", h.Count)
	}
	if need, ok := objectSize(off, h.Size, h.Count); !ok || need > size {
		return typelayout.Faultf("count", typelayout.OffCount, "%d elements of %d bytes do not fit in the %d-byte object", h.Count, h.Size, size)
	}
	return nil
}

// objectSize returns the size of an object whose count elements of size
// bytes start at offset off (offData in an array, offListData in a list),
// and false if it cannot be represented.
func objectSize(off, size, count uint64) (int, bool) {
	hi, data := bits.Mul64(size, count)
	if hi != 0 {
		return 0, false
	}
	n, ok := layout.Add(off, data)
	if !ok || n > math.MaxInt {
		return 0, false
	}
	return int(n), true
}

func newArray[T any](seg *shm.Segment, name string, mem []byte, n int, l *typelayout.Layout) (*Array[T], error) {
	mu, err := lock.MutexAt(mem[offLock:offLock+8], objectName(seg, name)+".lock")
	if err != nil {
		return nil, err
	}
	a := &Array[T]{mu: mu}
	// mem may end right at the elements (n == 0, or a zero-size T), so
	// the address is computed, not taken from an index.
	a.s = unsafe.Slice((*T)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(mem)), offData)), n)
	if l.Size == 4 || l.Size == 8 {
		a.word = int(l.Size) // elements at offData + i×size: naturally aligned words
	}
	return a, nil
}

// objectName is how the lock's panic messages name the object.
func objectName(seg *shm.Segment, name string) string {
	if seg.Name() == "" {
		return strconv.Quote(name)
	}
	return strconv.Quote(seg.Name()) + "/" + strconv.Quote(name)
}

// Len returns the number of elements.
func (a *Array[T]) Len() int { return len(a.s) }

// At returns element i. It panics if i is out of range, as indexing a
// slice does, with a message of the same shape:
//
//	array: index out of range [5] with length 3
//
// For a T of 4 or 8 bytes At is one atomic load, so it never sees half of
// a concurrent Set; for other sizes it is a plain copy, which a concurrent
// writer can tear: use Update or Locker for those.
func (a *Array[T]) At(i int) T {
	if uint(i) >= uint(len(a.s)) {
		panic(outOfRange(i, len(a.s)))
	}
	return load(&a.s[i], a.word)
}

// Set sets element i to x. It panics if i is out of range, as At does. For
// a T of 4 or 8 bytes Set is one atomic store; for other sizes a plain
// copy. Set does not take the array's lock, so it may be used while
// holding it (Python's "with arr.get_lock(): arr[i] += 1" is
//
//	m := a.Locker()
//	m.Lock()
//	a.Set(i, a.At(i)+1)
//	m.Unlock()
//
// or the same in Update), and a Set that does not hold the lock can be
// overwritten by a concurrent Update.
func (a *Array[T]) Set(i int, x T) {
	if uint(i) >= uint(len(a.s)) {
		panic(outOfRange(i, len(a.s)))
	}
	store(&a.s[i], &x, a.word)
}

// outOfRange is the panic message of an index out of range, in the shape
// of the runtime's.
func outOfRange(i, n int) string {
	if i < 0 {
		return "array: index out of range [" + strconv.Itoa(i) + "]"
	}
	return "array: index out of range [" + strconv.Itoa(i) + "] with length " + strconv.Itoa(n)
}

// load returns the element at p: one atomic load if word, the element's
// size, is 8 or 4, else a plain copy. Array.At and List.At read elements
// with it.
func load[T any](p *T, word int) T {
	switch word {
	case 8:
		// Acquire: sees the element as the last store left it.
		w := atomic.LoadUint64((*uint64)(unsafe.Pointer(p)))
		return *(*T)(unsafe.Pointer(&w))
	case 4:
		// Acquire, as above.
		w := atomic.LoadUint32((*uint32)(unsafe.Pointer(p)))
		return *(*T)(unsafe.Pointer(&w))
	}
	return *p
}

// store copies *x into the element at p: one atomic store if word, the
// element's size, is 8 or 4, else a plain copy. Array.Set, List.Set and
// List's appends write elements with it.
func store[T any](p, x *T, word int) {
	switch word {
	case 8:
		var w uint64
		*(*T)(unsafe.Pointer(&w)) = *x
		// Release: publishes x, and this process's writes before it.
		atomic.StoreUint64((*uint64)(unsafe.Pointer(p)), w)
	case 4:
		var w uint32
		*(*T)(unsafe.Pointer(&w)) = *x
		// Release, as above.
		atomic.StoreUint32((*uint32)(unsafe.Pointer(p)), w)
	default:
		*p = *x
	}
}

// Slice returns the elements themselves: a []T of length and capacity
// Len() over the shared memory, with no copy. Every call returns the same
// view, valid until the segment is closed.
//
// Reads and writes through it are plain memory accesses, as fast as on any
// slice; to keep them consistent with other processes, make them under the
// lock (Update, Locker) or order them with another shmkit primitive (a
// barrier, an event, a queue message). The race detector cannot see the
// accesses of other processes.
func (a *Array[T]) Slice() []T { return a.s }

// Update calls fn with the elements (the Slice view, not a copy) under the
// array's lock, so that no other Update or locked section, in any process,
// runs meanwhile. fn's writes are made in place: if the process dies in
// fn, the elements are as fn left them, and the next holder of the lock
// takes it over; LockContext on Locker's *lock.Mutex tells it, with
// lock.ErrOwnerDead, that it may need to repair them. If fn panics, the
// lock is released and the panic goes on.
//
// fn must not call Update on the same array, nor keep the slice's
// elements as if they could not change after it returns.
func (a *Array[T]) Update(fn func([]T)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fn(a.s)
}

// Locker returns the array's lock, Python's get_lock(): hold it to make
// several operations on this and other objects one critical section. It is
// a *lock.Mutex built on a word inside the array's object, so
//
//	m := a.Locker().(*lock.Mutex)
//	err := m.LockContext(ctx) // nil, lock.ErrOwnerDead or ctx.Err()
//
// gives the context and owner-death forms. Update takes this lock: do not
// call it while holding the lock. At, Set and Slice do not take it.
//
// Under -race the lock also tells the race detector of the ordering it
// gives between the goroutines of this process, so Go memory guarded by it
// alone is not reported as racing; the detector never sees other
// processes' accesses.
func (a *Array[T]) Locker() sync.Locker { return a.mu }

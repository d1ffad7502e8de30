package array

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"unsafe"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/typelayout"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
)

// listObject documents the bytes of a list object (shm.KindList); the
// offList* constants below are its field offsets, and a test keeps the two
// in agreement.
type listObject struct {
	Header [typelayout.HeaderSize]byte // typelayout header: form 1, align, size, count = capacity, fingerprint, check
	Lock   uint64                      // robust lock word: Append, Extend, Truncate; its own cache line
	_      [56]byte                    //
	Len    uint64                      // the length: elements [0, Len) are written; its own cache line
	_      [56]byte                    //
	Data   [8]byte                     // the elements, capacity × size bytes, from here
}

// List object field offsets (see listObject).
const (
	offListLock = 64
	offListLen  = 128
	offListData = 192
)

// formList is the form of a list object: the only one so far. The number is
// part of the layout and never changes.
const formList = 1

// testHookAppend, set by tests only, is called by Append and Extend after
// the elements are written and before the length that publishes them is
// stored.
var testHookAppend func()

// List is a list of T in shared memory that grows by appending, up to a
// capacity fixed when it is made: Python's Manager().list() of one type,
// with its elements a Go slice away. Make one with NewList or OpenList; the
// zero List is not usable. A List handle is safe for concurrent use by the
// goroutines of one process.
//
// Appends from any number of processes get distinct indices and lose no
// element. Len never covers an element that is not completely written: an
// appender writes the element beyond the length, then publishes it by
// storing the new length, holding the list's lock between the two (see the
// package documentation).
type List[T any] struct {
	_    layout.NoCopy
	s    []T     // capacity elements, in the mapping
	n    *uint64 // the length word
	word int     // 4 or 8: At and Set are one atomic operation; 0: plain copies
	mu   *lock.Mutex
	seg  string
	name string
	base int64 // the object's offset in the segment, -1 if unknown
}

// NewList creates an empty List called name in seg, with room for capacity
// elements of T. T must be a fixed-size type without pointers (see New);
// any other T is refused with an error wrapping ErrUnsupportedType. The
// object records T's size, alignment and fingerprint, and the capacity,
// which OpenList checks. It takes 192 + capacity × unsafe.Sizeof(T) bytes
// of the segment; shm.ErrNoSpace says when that does not fit.
func NewList[T any](seg *shm.Segment, name string, capacity int) (*List[T], error) {
	const op = "create list"
	l, err := typelayout.Of[T]()
	if err != nil {
		return nil, fmt.Errorf("array: %w", err)
	}
	if capacity < 0 {
		return nil, &shm.Error{Op: op, Segment: seg.Name(), Object: name, Offset: -1, Err: fmt.Errorf("negative capacity %d", capacity)}
	}
	size, ok := objectSize(offListData, l.Size, uint64(capacity))
	if !ok {
		return nil, &shm.Error{Op: op, Segment: seg.Name(), Object: name, Offset: -1,
			Err: fmt.Errorf("%w: %d elements of %d bytes do not fit in memory", shm.ErrNoSpace, capacity, l.Size)}
	}
	mem, err := seg.Alloc(name, shm.KindList, size, 0, func(mem []byte) error {
		typelayout.Put(mem, l.Header(formList, uint64(capacity)))
		return nil // Alloc zeroed the length and the elements
	})
	if err != nil {
		return nil, err
	}
	return newList[T](seg, name, mem, capacity, l)
}

// OpenList returns the List called name in seg, created by NewList[T] in
// this or another process. It returns an error wrapping shm.ErrWrongKind,
// which says what differs, when the list was created for an element type
// of another size, alignment or layout; and shm.ErrCorrupt, in a
// *shm.Error naming the field, when its header is damaged or its elements
// would not fit in it.
func OpenList[T any](seg *shm.Segment, name string) (*List[T], error) {
	const op = "open list"
	l, err := typelayout.Of[T]()
	if err != nil {
		return nil, fmt.Errorf("array: %w", err)
	}
	mem, h, err := lookup(seg, name, op, shm.KindList, formList, listBounds, l)
	if err != nil {
		return nil, err
	}
	return newList[T](seg, name, mem, int(h.Count), l) // listBounds bounds Count
}

// listBounds checks that a list object's header describes elements that
// fit in the object's size bytes (see countFits).
func listBounds(h typelayout.Header, size int) *typelayout.Fault {
	return countFits(offListData, h, size)
}

func newList[T any](seg *shm.Segment, name string, mem []byte, capacity int, l *typelayout.Layout) (*List[T], error) {
	mu, err := lock.MutexAt(mem[offListLock:offListLock+8], objectName(seg, name)+".lock")
	if err != nil {
		return nil, err
	}
	ls := &List[T]{mu: mu, n: layout.U64(mem, offListLen), seg: seg.Name(), name: name, base: -1}
	// mem may end right at the elements (capacity 0, or a zero-size T).
	ls.s = unsafe.Slice((*T)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(mem)), offListData)), capacity)
	if l.Size == 4 || l.Size == 8 {
		ls.word = int(l.Size) // elements at offListData + i×size: naturally aligned words
	}
	for _, o := range seg.Objects() {
		if o.Name == name {
			ls.base = o.Offset
		}
	}
	return ls, nil
}

// Len returns the number of elements: those appended, less those
// truncated. Every element below it is completely written. A length word
// above the capacity, which only a peer scribbling on the list can leave,
// reads as the capacity (Append reports it).
func (l *List[T]) Len() int {
	// Acquire: pairs with the store that published the last append, so
	// the elements below the length are visible.
	return int(min(atomic.LoadUint64(l.n), uint64(len(l.s))))
}

// Cap returns the capacity: the most elements the list holds.
func (l *List[T]) Cap() int { return len(l.s) }

// Append adds x at the end of the list and returns its index. Concurrent
// appends of any processes get distinct indices, and none is lost. It
// returns an error wrapping shm.ErrNoSpace, and appends nothing, when the
// list is full.
//
// It holds the list's lock (a robust lock.Mutex) while it writes the
// element beyond the length and then stores the length one higher, which
// publishes it: a process killed before that store leaves the list as it
// was (the next Append takes the dead process's lock over, within about
// 25 ms, and writes over the half-written element); killed after it, the
// element is in the list.
func (l *List[T]) Append(x T) (int, error) {
	return l.extend(unsafe.Slice(&x, 1))
}

// Extend appends the elements of xs, all or none, and returns the index of
// the first: it is Append for several elements at once, with one lock and
// one store of the length, which publishes them all. It returns an error
// wrapping shm.ErrNoSpace, and appends nothing, when they do not all fit.
func (l *List[T]) Extend(xs ...T) (int, error) {
	return l.extend(xs)
}

func (l *List[T]) extend(xs []T) (int, error) {
	l.mu.Lock() // takes over the lock of an appender that died
	defer l.mu.Unlock()
	// Only lock holders store the length: this is its current value.
	n := atomic.LoadUint64(l.n)
	c := uint64(len(l.s))
	switch {
	case n > c:
		return 0, l.errorf("append", "len", offListLen, shm.ErrCorrupt, "length %d, the list holds at most %d", n, c)
	case uint64(len(xs)) > c-n:
		return 0, l.errorf("append", "", -1, shm.ErrNoSpace, "%d elements, %d of the list's %d are free", len(xs), c-n, c)
	}
	for i := range xs {
		store(&l.s[int(n)+i], &xs[i], l.word)
	}
	if testHookAppend != nil {
		testHookAppend()
	}
	// Release: publishes the elements just written to every reader that
	// loads the new length.
	atomic.StoreUint64(l.n, n+uint64(len(xs)))
	return int(n), nil
}

// Truncate shortens the list to its first n elements; an n at or above Len
// leaves it unchanged. It panics if n is negative. The elements beyond n
// stay in memory until appends write over them.
//
// Truncate takes the list's lock, as Append does. A reader that loaded the
// old length may still read an element beyond n while an Append writes
// over it: for a T of 4 or 8 bytes it sees the old or the new element, for
// other sizes possibly a mix (as with Set).
func (l *List[T]) Truncate(n int) {
	if n < 0 {
		panic("array: Truncate to a negative length " + strconv.Itoa(n))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// Only lock holders store the length.
	if cur := atomic.LoadUint64(l.n); uint64(n) < cur || cur > uint64(len(l.s)) {
		// One store: the list is as long as before or as short as asked,
		// whenever the process dies. A length above the capacity (a peer
		// scribbled) is repaired here.
		atomic.StoreUint64(l.n, uint64(min(n, len(l.s))))
	}
}

// At returns element i. It panics if i is not below Len, with a message in
// the shape of the runtime's:
//
//	array: index out of range [5] with length 3
//
// For a T of 4 or 8 bytes At is one atomic load; for other sizes a plain
// copy, which a concurrent Set of the same element can tear.
func (l *List[T]) At(i int) T {
	if n := l.Len(); uint(i) >= uint(n) {
		panic(outOfRange(i, n))
	}
	return load(&l.s[i], l.word)
}

// Set sets element i, which must be below Len (Set panics otherwise, as At
// does). For a T of 4 or 8 bytes it is one atomic store; for other sizes a
// plain copy. It takes no lock: a Set concurrent with a Truncate and an
// Append that reuse the index may land on the new element.
func (l *List[T]) Set(i int, x T) {
	if n := l.Len(); uint(i) >= uint(n) {
		panic(outOfRange(i, n))
	}
	store(&l.s[i], &x, l.word)
}

// Slice returns the elements themselves: a []T of length Len() at the time
// of the call, over the shared memory, with no copy. Its capacity is also
// Len(), so appending to it copies rather than writing over the list's
// later elements. Later appends do not lengthen it; call Slice again.
//
// Reads and writes through it are plain memory accesses: order them
// between processes with a lock or another shmkit primitive, as with
// Array.Slice. The race detector cannot see the accesses of other
// processes.
func (l *List[T]) Slice() []T {
	n := l.Len()
	return l.s[:n:n]
}

func (l *List[T]) errorf(op, field string, off int64, sentinel error, format string, args ...any) error {
	e := &shm.Error{Op: op + " list", Segment: l.seg, Object: l.name, Field: field, Offset: -1,
		Err: fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)}
	if off >= 0 && l.base >= 0 {
		e.Offset = l.base + off
	}
	return e
}

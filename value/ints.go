package value

import (
	"sync/atomic"
	"unsafe"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/typelayout"
	"github.com/shmkit/shmkit/shm"
)

// The atomic integers mirror sync/atomic's Int64, Uint64, Int32 and Uint32
// over a word in shared memory: every method is one atomic instruction on
// that word, with no lock. Their objects are value objects of their own
// forms, so an Int64 cannot be opened as a Value[int64] (whose Update takes
// a lock that Add would ignore), nor as a Uint64.

// intObject creates (isNew) or opens the value object of an atomic integer
// of form and element type E, and returns its memory.
func intObject[E int32 | int64 | uint32 | uint64](seg *shm.Segment, name string, form uint32, isNew bool) ([]byte, error) {
	l, err := typelayout.Of[E]()
	if err != nil {
		panic(err) // unreachable: E is an integer type
	}
	if isNew {
		return create(seg, name, form, l)
	}
	return open(seg, name, form, l)
}

// Int64 is an int64 in shared memory that every process updates with
// atomic operations, like sync/atomic.Int64. Make one with NewInt64 or
// OpenInt64.
type Int64 struct {
	_ layout.NoCopy
	v *int64
}

// NewInt64 creates an Int64 called name in seg, holding 0.
func NewInt64(seg *shm.Segment, name string) (*Int64, error) {
	mem, err := intObject[int64](seg, name, formInt64, true)
	if err != nil {
		return nil, err
	}
	return &Int64{v: layout.I64(mem, offData)}, nil
}

// OpenInt64 returns the Int64 called name in seg, created by NewInt64 in
// this or another process; shm.ErrWrongKind if name holds another value.
func OpenInt64(seg *shm.Segment, name string) (*Int64, error) {
	mem, err := intObject[int64](seg, name, formInt64, false)
	if err != nil {
		return nil, err
	}
	return &Int64{v: layout.I64(mem, offData)}, nil
}

// Load atomically loads and returns the value.
func (x *Int64) Load() int64 {
	// Acquire: sees every write made before the store it reads.
	return atomic.LoadInt64(x.v)
}

// Store atomically stores v.
func (x *Int64) Store(v int64) {
	// Release: publishes this process's earlier writes with v.
	atomic.StoreInt64(x.v, v)
}

// Swap atomically stores new and returns the previous value.
func (x *Int64) Swap(new int64) (old int64) {
	// Acquire and release, as Load and Store.
	return atomic.SwapInt64(x.v, new)
}

// CompareAndSwap executes the compare-and-swap operation for x: it stores
// new if the value is old, and reports whether it did.
func (x *Int64) CompareAndSwap(old, new int64) (swapped bool) {
	// Acquire and release when it swaps; acquire when it does not.
	return atomic.CompareAndSwapInt64(x.v, old, new)
}

// Add atomically adds delta and returns the new value.
func (x *Int64) Add(delta int64) (new int64) {
	// Acquire and release: one locked instruction on the word.
	return atomic.AddInt64(x.v, delta)
}

// And atomically performs a bitwise AND with mask and returns the old value.
func (x *Int64) And(mask int64) (old int64) {
	// Acquire and release.
	return atomic.AndInt64(x.v, mask)
}

// Or atomically performs a bitwise OR with mask and returns the old value.
func (x *Int64) Or(mask int64) (old int64) {
	// Acquire and release.
	return atomic.OrInt64(x.v, mask)
}

// Uint64 is a uint64 in shared memory that every process updates with
// atomic operations, like sync/atomic.Uint64. Make one with NewUint64 or
// OpenUint64.
type Uint64 struct {
	_ layout.NoCopy
	v *uint64
}

// NewUint64 creates a Uint64 called name in seg, holding 0.
func NewUint64(seg *shm.Segment, name string) (*Uint64, error) {
	mem, err := intObject[uint64](seg, name, formUint64, true)
	if err != nil {
		return nil, err
	}
	return &Uint64{v: layout.U64(mem, offData)}, nil
}

// OpenUint64 returns the Uint64 called name in seg, created by NewUint64 in
// this or another process; shm.ErrWrongKind if name holds another value.
func OpenUint64(seg *shm.Segment, name string) (*Uint64, error) {
	mem, err := intObject[uint64](seg, name, formUint64, false)
	if err != nil {
		return nil, err
	}
	return &Uint64{v: layout.U64(mem, offData)}, nil
}

// Load atomically loads and returns the value.
func (x *Uint64) Load() uint64 {
	// Acquire: sees every write made before the store it reads.
	return atomic.LoadUint64(x.v)
}

// Store atomically stores v.
func (x *Uint64) Store(v uint64) {
	// Release: publishes this process's earlier writes with v.
	atomic.StoreUint64(x.v, v)
}

// Swap atomically stores new and returns the previous value.
func (x *Uint64) Swap(new uint64) (old uint64) {
	// Acquire and release, as Load and Store.
	return atomic.SwapUint64(x.v, new)
}

// CompareAndSwap executes the compare-and-swap operation for x: it stores
// new if the value is old, and reports whether it did.
func (x *Uint64) CompareAndSwap(old, new uint64) (swapped bool) {
	// Acquire and release when it swaps; acquire when it does not.
	return atomic.CompareAndSwapUint64(x.v, old, new)
}

// Add atomically adds delta and returns the new value. To subtract d, add
// ^uint64(d-1), as with sync/atomic.
func (x *Uint64) Add(delta uint64) (new uint64) {
	// Acquire and release: one locked instruction on the word.
	return atomic.AddUint64(x.v, delta)
}

// And atomically performs a bitwise AND with mask and returns the old value.
func (x *Uint64) And(mask uint64) (old uint64) {
	// Acquire and release.
	return atomic.AndUint64(x.v, mask)
}

// Or atomically performs a bitwise OR with mask and returns the old value.
func (x *Uint64) Or(mask uint64) (old uint64) {
	// Acquire and release.
	return atomic.OrUint64(x.v, mask)
}

// Int32 is an int32 in shared memory that every process updates with
// atomic operations, like sync/atomic.Int32. Make one with NewInt32 or
// OpenInt32.
type Int32 struct {
	_ layout.NoCopy
	v *int32
}

// NewInt32 creates an Int32 called name in seg, holding 0.
func NewInt32(seg *shm.Segment, name string) (*Int32, error) {
	mem, err := intObject[int32](seg, name, formInt32, true)
	if err != nil {
		return nil, err
	}
	return &Int32{v: (*int32)(unsafe.Pointer(layout.U32(mem, offData)))}, nil
}

// OpenInt32 returns the Int32 called name in seg, created by NewInt32 in
// this or another process; shm.ErrWrongKind if name holds another value.
func OpenInt32(seg *shm.Segment, name string) (*Int32, error) {
	mem, err := intObject[int32](seg, name, formInt32, false)
	if err != nil {
		return nil, err
	}
	return &Int32{v: (*int32)(unsafe.Pointer(layout.U32(mem, offData)))}, nil
}

// Load atomically loads and returns the value.
func (x *Int32) Load() int32 {
	// Acquire: sees every write made before the store it reads.
	return atomic.LoadInt32(x.v)
}

// Store atomically stores v.
func (x *Int32) Store(v int32) {
	// Release: publishes this process's earlier writes with v.
	atomic.StoreInt32(x.v, v)
}

// Swap atomically stores new and returns the previous value.
func (x *Int32) Swap(new int32) (old int32) {
	// Acquire and release, as Load and Store.
	return atomic.SwapInt32(x.v, new)
}

// CompareAndSwap executes the compare-and-swap operation for x: it stores
// new if the value is old, and reports whether it did.
func (x *Int32) CompareAndSwap(old, new int32) (swapped bool) {
	// Acquire and release when it swaps; acquire when it does not.
	return atomic.CompareAndSwapInt32(x.v, old, new)
}

// Add atomically adds delta and returns the new value.
func (x *Int32) Add(delta int32) (new int32) {
	// Acquire and release: one locked instruction on the word.
	return atomic.AddInt32(x.v, delta)
}

// And atomically performs a bitwise AND with mask and returns the old value.
func (x *Int32) And(mask int32) (old int32) {
	// Acquire and release.
	return atomic.AndInt32(x.v, mask)
}

// Or atomically performs a bitwise OR with mask and returns the old value.
func (x *Int32) Or(mask int32) (old int32) {
	// Acquire and release.
	return atomic.OrInt32(x.v, mask)
}

// Uint32 is a uint32 in shared memory that every process updates with
// atomic operations, like sync/atomic.Uint32. Make one with NewUint32 or
// OpenUint32.
type Uint32 struct {
	_ layout.NoCopy
	v *uint32
}

// NewUint32 creates a Uint32 called name in seg, holding 0.
func NewUint32(seg *shm.Segment, name string) (*Uint32, error) {
	mem, err := intObject[uint32](seg, name, formUint32, true)
	if err != nil {
		return nil, err
	}
	return &Uint32{v: layout.U32(mem, offData)}, nil
}

// OpenUint32 returns the Uint32 called name in seg, created by NewUint32 in
// this or another process; shm.ErrWrongKind if name holds another value.
func OpenUint32(seg *shm.Segment, name string) (*Uint32, error) {
	mem, err := intObject[uint32](seg, name, formUint32, false)
	if err != nil {
		return nil, err
	}
	return &Uint32{v: layout.U32(mem, offData)}, nil
}

// Load atomically loads and returns the value.
func (x *Uint32) Load() uint32 {
	// Acquire: sees every write made before the store it reads.
	return atomic.LoadUint32(x.v)
}

// Store atomically stores v.
func (x *Uint32) Store(v uint32) {
	// Release: publishes this process's earlier writes with v.
	atomic.StoreUint32(x.v, v)
}

// Swap atomically stores new and returns the previous value.
func (x *Uint32) Swap(new uint32) (old uint32) {
	// Acquire and release, as Load and Store.
	return atomic.SwapUint32(x.v, new)
}

// CompareAndSwap executes the compare-and-swap operation for x: it stores
// new if the value is old, and reports whether it did.
func (x *Uint32) CompareAndSwap(old, new uint32) (swapped bool) {
	// Acquire and release when it swaps; acquire when it does not.
	return atomic.CompareAndSwapUint32(x.v, old, new)
}

// Add atomically adds delta and returns the new value. To subtract d, add
// ^uint32(d-1), as with sync/atomic.
func (x *Uint32) Add(delta uint32) (new uint32) {
	// Acquire and release: one locked instruction on the word.
	return atomic.AddUint32(x.v, delta)
}

// And atomically performs a bitwise AND with mask and returns the old value.
func (x *Uint32) And(mask uint32) (old uint32) {
	// Acquire and release.
	return atomic.AndUint32(x.v, mask)
}

// Or atomically performs a bitwise OR with mask and returns the old value.
func (x *Uint32) Or(mask uint32) (old uint32) {
	// Acquire and release.
	return atomic.OrUint32(x.v, mask)
}

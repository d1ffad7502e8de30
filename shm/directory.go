package shm

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/proc"
)

// ObjectInfo describes one object in a segment's directory.
type ObjectInfo struct {
	Name   string // unique within the segment
	Kind   Kind   // what it holds
	Offset int64  // from the start of the segment, a multiple of 64
	Size   int64  // bytes
}

// Objects lists the segment's ready objects in the order they were created.
// Objects still being initialised, and entries that fail validation, are left
// out.
func (s *Segment) Objects() []ObjectInfo {
	d, flt := loadDirState(s.mem, s.geo)
	if flt != nil {
		return nil
	}
	var out []ObjectInfo
	for i := uint32(0); i < d.used; i++ {
		e := readEntry(s.mem, i)
		if e.state != stateReady || checkEntry(e, s.geo, d.heapNext) != nil {
			continue
		}
		out = append(out, ObjectInfo{Name: e.name, Kind: e.kind, Offset: int64(e.offset), Size: int64(e.size)})
	}
	return out
}

// Alloc creates an object: it reserves size bytes aligned to align (a power of
// two, at least 64 and at most MaxAlign; 0 means 64) under a new directory
// entry, runs init on the zeroed memory, and only then makes the object
// visible to Lookup. It returns the object's memory, which aliases the
// mapping.
//
// Any number of processes may call Alloc on one segment at once: objects never
// overlap and names are unique. If init returns an error or panics, or the
// process dies before init returns, the entry is abandoned: the name becomes
// free again and the space is not reused.
//
// Errors: ErrBadName; ErrExist if a ready object, or one being initialised by
// a live process, has the name; ErrNoSpace if the directory or the heap is
// full; ErrCorrupt if the directory in shared memory is damaged; init's error.
func (s *Segment) Alloc(name string, kind Kind, size, align int, init func(mem []byte) error) ([]byte, error) {
	fail := func(err error) ([]byte, error) {
		return nil, &Error{Op: "alloc " + kind.String(), Segment: s.name, Object: name, Offset: -1, Err: err}
	}
	if err := ValidateName(name); err != nil {
		return fail(err)
	}
	if align == 0 {
		align = layout.CacheLine
	}
	switch {
	case kind == 0:
		return fail(fmt.Errorf("kind 0 is reserved"))
	case size <= 0:
		return fail(fmt.Errorf("size %d: objects have at least one byte", size))
	case align < layout.CacheLine || align > MaxAlign || align&(align-1) != 0:
		return fail(fmt.Errorf("alignment %d: want a power of two in [%d, %d]", align, layout.CacheLine, MaxAlign))
	}
	index, off, err := s.claim(name, kind, uint64(size), uint64(align))
	if err != nil {
		return nil, err
	}
	mem := s.mem[off : off+uint64(size) : off+uint64(size)]
	state := layout.U32(s.mem, entryOffset(index)+entState)
	published := false
	defer func() {
		if !published {
			// init failed or panicked: free the name.
			atomic.StoreUint32(state, stateAbandoned)
		}
	}()
	// Fresh heap is zero unless a peer wrote where it had no object.
	clear(mem)
	if init != nil {
		if err := init(mem); err != nil {
			return fail(err)
		}
	}
	// Release: publishes init's writes to every process that loads the state
	// as ready.
	atomic.StoreUint32(state, stateReady)
	published = true
	return mem, nil
}

// claim reserves a directory entry and heap space under the allocation lock.
// The steps, which a process may die between:
//
//  1. validate every claimed entry and check the name is free;
//  2. write the new entry at index DirUsed, state init (invisible: beyond DirUsed);
//  3. store HeapNext past the new object;
//  4. store DirUsed+1, which makes the entry part of the directory.
//
// A death before 3 leaves nothing; between 3 and 4 leaks the space; after 4
// leaves an init entry whose dead creator the next claim or lookup of the
// name detects, abandoning the entry.
func (s *Segment) claim(name string, kind Kind, size, align uint64) (uint32, uint64, error) {
	fail := func(err error) (uint32, uint64, error) {
		return 0, 0, &Error{Op: "alloc " + kind.String(), Segment: s.name, Object: name, Offset: -1, Err: err}
	}
	failAt := func(flt *fault) (uint32, uint64, error) {
		return 0, 0, &Error{Op: "alloc " + kind.String(), Segment: s.name, Object: name, Field: flt.field, Offset: flt.off, Err: flt.err}
	}
	// A dead previous holder needs no repair: the steps above leave a
	// consistent directory wherever they stop.
	s.alloc.Lock(context.Background())
	defer s.alloc.Unlock("shm: allocation lock")

	d, flt := loadDirState(s.mem, s.geo)
	if flt != nil {
		return failAt(flt)
	}
	// Step 1.
	for i := uint32(0); i < d.used; i++ {
		e := readEntry(s.mem, i)
		if flt := checkEntry(e, s.geo, d.heapNext); flt != nil {
			return failAt(flt)
		}
		if e.name != name || e.state == stateAbandoned {
			continue
		}
		if e.state == stateInit && s.abandonIfDead(e) {
			continue
		}
		return fail(fmt.Errorf("%w (a %s)", ErrExist, e.kind))
	}
	if d.used >= s.geo.dirCap {
		return fail(fmt.Errorf("%w: the directory is full (%d entries)", ErrNoSpace, s.geo.dirCap))
	}
	off, ok := layout.AlignUp(d.heapNext, align)
	if !ok || !layout.InBounds(off, size, s.geo.size) {
		return fail(fmt.Errorf("%w: the heap is full: %d bytes asked, %d free", ErrNoSpace, size, s.geo.size-d.heapNext))
	}
	// Step 2.
	index := d.used
	base := entryOffset(index)
	atomic.StoreUint32(layout.U32(s.mem, base+entKind), uint32(kind))
	atomic.StoreUint64(layout.U64(s.mem, base+entOffset), off)
	atomic.StoreUint64(layout.U64(s.mem, base+entSize), size)
	atomic.StoreUint64(layout.U64(s.mem, base+entCreator), uint64(proc.Self()))
	n := copy(s.mem[base+entName:base+entName+MaxNameLen], name)
	clear(s.mem[base+entName+n : base+entName+MaxNameLen])
	atomic.StoreUint32(layout.U32(s.mem, base+entState), stateInit)
	if testHookClaim != nil {
		testHookClaim(name)
	}
	// Step 3.
	atomic.StoreUint64(layout.U64(s.mem, offHeapNext), off+size)
	// Step 4. Release: readers that load DirUsed see the complete entry.
	atomic.StoreUint32(layout.U32(s.mem, offDirUsed), index+1)
	return index, off, nil
}

// testHookClaim, set by tests, runs in claim between steps 2 and 3, with the
// allocation lock held.
var testHookClaim func(name string)

// abandonIfDead abandons an entry in state init whose creator has died, and
// reports whether the entry is (now) abandoned.
func (s *Segment) abandonIfDead(e entryView) bool {
	if proc.Alive(proc.Identity(e.creator)) {
		return false
	}
	state := layout.U32(s.mem, entryOffset(e.index)+entState)
	atomic.CompareAndSwapUint32(state, stateInit, stateAbandoned)
	return atomic.LoadUint32(state) == stateAbandoned
}

// Lookup finds the ready object called name and returns its memory, which
// aliases the mapping. It returns ErrNotExist if there is none (an object
// still being initialised is not yet visible), ErrWrongKind if the object is
// of another kind, and ErrCorrupt if its directory entry is damaged.
func (s *Segment) Lookup(name string, kind Kind) ([]byte, error) {
	fail := func(err error) ([]byte, error) {
		return nil, &Error{Op: "lookup " + kind.String(), Segment: s.name, Object: name, Offset: -1, Err: err}
	}
	if err := ValidateName(name); err != nil {
		return fail(err)
	}
	d, flt := loadDirState(s.mem, s.geo)
	if flt != nil {
		return nil, &Error{Op: "lookup " + kind.String(), Segment: s.name, Object: name, Field: flt.field, Offset: flt.off, Err: flt.err}
	}
	pending := false
	for i := uint32(0); i < d.used; i++ {
		e := readEntry(s.mem, i)
		if e.name != name {
			continue
		}
		switch e.state {
		case stateAbandoned:
			continue
		case stateInit:
			if !proc.Alive(proc.Identity(e.creator)) {
				continue
			}
			pending = true
			continue
		}
		if flt := checkEntry(e, s.geo, d.heapNext); flt != nil {
			return nil, &Error{Op: "lookup " + kind.String(), Segment: s.name, Object: name, Field: flt.field, Offset: flt.off, Err: flt.err}
		}
		if e.kind != kind {
			return fail(fmt.Errorf("%w: it is a %s, not a %s", ErrWrongKind, e.kind, kind))
		}
		return s.mem[e.offset : e.offset+e.size : e.offset+e.size], nil
	}
	if pending {
		return fail(fmt.Errorf("%w yet: its creator is still initialising it", ErrNotExist))
	}
	return fail(ErrNotExist)
}

package value

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
)

// The map's table is a chained hash table (Knuth, TAOCP vol. 3, §6.4,
// "separate chaining"; the layout of Linux's hlist and of most C hash
// maps): an array of buckets, each the chunk number of the first entry of a
// singly linked chain, and the entries in an arena of 64-byte chunks. The
// bucket count is fixed (a power of two at least the entry capacity, so
// chains hold at most one entry on average), so the table never rehashes and an
// entry never moves: every change is a new entry linked in, or an old one
// linked out, by one store.
//
// The arena is a pool of equal chunks on a free list (a fixed-size-block
// allocator, Knuth §2.5; the links live in a separate array, as in the FAT
// of MS-DOS file systems, so that a chunk's 64 bytes are all data). An
// entry takes as many chunks as its key and value need, linked in the same
// array; a freed entry's chunks go back to the list whole. Equal chunks
// cannot fragment: the map holds any set of entries within its capacity,
// whatever was put and deleted before (requiredChunks says how many chunks
// that takes).
//
// Writers hold the map's RWMutex for writing, readers for reading. A write
// goes (the labels are those of the code):
//
//	W1. check the capacity; store Dirty = 1
//	W2. pop chunks from the free list and write the new entry into them:
//	    header (next, tag, lengths), key, value; nothing links to it yet
//	W3. publish: one atomic store of its chunk number into the word that
//	    linked the old entry (or ended the chain): the bucket, or the
//	    previous entry's next
//	W4. push the old entry's chunks onto the free list
//	W5. store Count and Used; store Dirty = 0
//
// A Delete is W1, W3 storing the old entry's next, W4, W5. Readers (under
// the read lock) see only the table as it was before W1 or after W5; a
// process killed anywhere from W1 to W5 leaves Dirty set, every chain made
// of complete entries (W3 is the only store that changes what a chain
// holds), and possibly chunks that are on neither the free list nor a
// chain, a half-updated free list, and stale counts. Whoever takes the lock
// next, reader or writer, finds Dirty set (or the lock's ErrOwnerDead) and
// repairs: it walks every chain, validating each entry, and rebuilds the
// free list and the counts from what the chains hold (a mark-and-sweep over
// the arena). The key then has the value W3 left: the old one if the
// process died before it, the new one after.

// Test hook points (testHookMap), in the order a write reaches them.
const (
	mapHookWritten   = 1 // W2 done: the new entry is written, nothing links to it
	mapHookLinked    = 2 // W3 done: the new entry is linked (Delete: the old one unlinked)
	mapHookFreeing   = 3 // in W4: the old entry's last chunk links to the free list, the list's head is not moved
	mapHookFreed     = 4 // W4 done: counts not stored
	mapHookClearing  = 5 // Clear: half of the buckets emptied
	mapHookRepairing = 6 // repair: chains walked, free list half rebuilt
)

// Test hooks, set by tests only: testHookMap is called at the points
// above; testHookMapRead by get, holding the read lock.
var (
	testHookMap     func(point int)
	testHookMapRead func()
)

func mapHook(point int) {
	if h := testHookMap; h != nil {
		h(point)
	}
}

// table is a handle on a map object: what BytesMap and Map share.
type table struct {
	rw      *lock.RWMutex
	mem     []byte
	g       mapGeometry
	dirty   *uint32
	count   *uint32
	used    *uint64
	repairs *uint64
	seg     string // segment name, for errors
	name    string // object name, for errors
	base    int64  // the object's offset in the segment, -1 if unknown
	bufs    sync.Pool
}

// newTable returns a handle on the map object mem called name in seg, of
// geometry g (created, or validated by openTable).
func newTable(seg *shm.Segment, name string, mem []byte, g mapGeometry) (*table, error) {
	what := objectName(seg, name)
	rw, err := lock.RWMutexAt(mem[offMapLock:offMapLock+lock.RWMutexSize], what+".lock")
	if err != nil {
		return nil, err
	}
	t := &table{
		rw:      rw,
		mem:     mem[:g.size:g.size],
		g:       g,
		dirty:   layout.U32(mem, offMapDirty),
		count:   layout.U32(mem, offMapCount),
		used:    layout.U64(mem, offMapUsed),
		repairs: layout.U64(mem, offMapRepairs),
		seg:     seg.Name(),
		name:    name,
		base:    -1,
	}
	t.bufs.New = func() any { return new([]byte) }
	for _, o := range seg.Objects() {
		if o.Name == name {
			t.base = o.Offset
		}
	}
	return t, nil
}

// ---- Errors ----

func (t *table) errorf(op, field string, off uint64, sentinel error, format string, args ...any) error {
	e := &shm.Error{Op: op, Segment: t.seg, Object: t.name, Field: field, Offset: -1,
		Err: fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)}
	if field != "" && t.base >= 0 {
		e.Offset = t.base + int64(off)
	}
	return e
}

// corrupt reports a word read from the map's memory that breaks its layout:
// the field is named, with its offset.
func (t *table) corrupt(op, field string, off uint64, format string, args ...any) error {
	return t.errorf(op, field, off, shm.ErrCorrupt, format, args...)
}

func (t *table) noSpace(op, format string, args ...any) error {
	return t.errorf(op, "", 0, shm.ErrNoSpace, format, args...)
}

// linkField names the word at off: a bucket, a link or an entry's next.
func (t *table) linkField(off uint64) string {
	switch {
	case off == offMapFree:
		return "free"
	case off < t.g.linksOff:
		return "bucket"
	case off < t.g.chunksOff:
		return "link"
	}
	return "entry.next"
}

// badChunk reports the chunk number c, out of range, read at off.
func (t *table) badChunk(op string, off uint64, c uint32) error {
	return t.corrupt(op, t.linkField(off), off, "chunk %d, the map has chunks 1 to %d", c, t.g.chunks)
}

// ---- Words ----

// Under the lock, and apart from W3's publishing store and the Dirty word,
// the table is read and written with plain accesses: the lock orders them
// between processes, and a process's stores all reach memory when it is
// killed (it dies between two instructions). Each word read from the map
// is read once into a local and checked before it is used: a peer may
// scribble.

func (t *table) u32(off uint64) uint32      { return mapNE.Uint32(t.mem[off : off+4]) }
func (t *table) put32(off uint64, v uint32) { mapNE.PutUint32(t.mem[off:off+4], v) }
func (t *table) head(c uint32) uint64       { return t.g.chunksOff + uint64(c)*mapChunk }
func (t *table) linkAt(c uint32) uint64     { return t.g.linksOff + uint64(c)*4 }

// publish stores c into the link word at off: W3.
func (t *table) publish(off uint64, c uint32) {
	// The single store that changes what a chain holds; everything it
	// links was written before it (a release store).
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&t.mem[off : off+4][0])), c)
}

// ---- Locking ----

// rlock takes the read lock. Under it no writer runs, so a Dirty mark is
// that of a writer that died: rlock then repairs under the write lock and
// reads again. A mark that is back after each of three repairs is a peer
// scribbling.
func (t *table) rlock(op string) error {
	for try := 0; ; try++ {
		t.rw.RLock()
		// The read lock orders this load after the last writer's W5.
		if atomic.LoadUint32(t.dirty) == 0 {
			return nil
		}
		t.rw.RUnlock()
		if try == 3 {
			return t.corrupt(op, "dirty", offMapDirty, "dirty again after each of %d repairs", try)
		}
		if err := t.wlock(op); err != nil {
			return err
		}
		t.rw.Unlock()
	}
}

// wlock takes the write lock, and repairs the table if a writer died: the
// lock says so (ErrOwnerDead), or Dirty does. If repair finds the table
// damaged, wlock releases the lock and returns the error; Dirty stays set,
// so that the next locker tries again.
func (t *table) wlock(op string) error {
	err := t.rw.LockContext(context.Background()) // nil or ErrOwnerDead: Background never ends
	if err != nil && !errors.Is(err, lock.ErrOwnerDead) {
		return err
	}
	// The write lock orders this load after the last holder's stores: a
	// mark set means it died between W1 and W5.
	if err != nil || atomic.LoadUint32(t.dirty) != 0 {
		if err := t.repair(op); err != nil {
			t.rw.Unlock()
			return err
		}
	}
	return nil
}

// ---- Lookup ----

// probe is what find learns about a key: where its entry is, or where one
// would be linked in.
type probe struct {
	link uint64 // offset of the word that links the entry, or that ends the chain
	ref  uint32 // the entry's head chunk; 0 if the key is absent
	next uint32 // the entry's next (0 when absent: the chain's end)
	klen uint64 // the entry's key and value lengths
	vlen uint64
}

// find looks key (hash h) up, the caller holding a lock.
func (t *table) find(op string, key []byte, h uint64, p *probe) error {
	*p = probe{link: t.g.bucketsOff + (h&(t.g.buckets-1))*4}
	if uint64(len(key)) > t.g.maxEntry {
		p.link = 0 // never linked in: set refuses the key
		return nil
	}
	tag, klen := uint32(h>>32), uint32(len(key))
	c := t.u32(p.link)
	for steps := uint64(0); c != 0; steps++ {
		switch {
		case uint64(c) > t.g.chunks:
			return t.badChunk(op, p.link, c)
		case steps == t.g.entries:
			return t.corrupt(op, t.linkField(p.link), p.link, "a bucket's chain is longer than the map's %d entries", t.g.entries)
		}
		head := t.head(c)
		e := t.mem[head : head+mapEntHead]
		next := mapNE.Uint32(e[entNext:])
		if mapNE.Uint32(e[entTag:]) == tag && mapNE.Uint32(e[entKLen:]) == klen {
			vlen := uint64(mapNE.Uint32(e[entVLen:]))
			n := uint64(klen) + vlen
			if n > t.g.maxEntry {
				return t.corrupt(op, "entry.vlen", head+entVLen, "an entry of %d bytes, the map's entries hold at most %d", n, t.g.maxEntry)
			}
			eq := true
			if n <= mapHeadData {
				eq = string(t.mem[head+mapEntHead:head+mapEntHead+uint64(klen)]) == string(key)
			} else if err := t.walk(op, c, 0, uint64(klen), func(pos uint64, b []byte) bool {
				eq = string(b) == string(key[pos:pos+uint64(len(b))])
				return eq
			}); err != nil {
				return err
			}
			if eq {
				p.ref, p.next, p.klen, p.vlen = c, next, uint64(klen), vlen
				return nil
			}
		}
		p.link = head + entNext
		c = next
	}
	return nil
}

// walk calls visit with the pieces, in order, of bytes [off, off+n) of the
// data of the entry whose head is c (its key, then its value), following
// and checking its links; it stops early when visit returns false. The
// caller has checked that off+n is within the entry's length, at most
// maxEntry: walk follows at most chunksFor(maxEntry) links.
func (t *table) walk(op string, c uint32, off, n uint64, visit func(pos uint64, b []byte) bool) error {
	end := off + n
	start, size, base := uint64(0), uint64(mapHeadData), t.head(c)+mapEntHead
	for {
		if lo, hi := max(off, start), min(end, start+size); lo < hi {
			if !visit(lo-off, t.mem[base+lo-start:base+hi-start]) {
				return nil
			}
		}
		start += size
		if start >= end {
			return nil
		}
		at := t.linkAt(c)
		if c = t.u32(at); c == 0 || uint64(c) > t.g.chunks {
			return t.corrupt(op, "link", at, "chunk %d in an entry's chain, want 1 to %d", c, t.g.chunks)
		}
		size, base = mapChunk, t.head(c)
	}
}

// appendValue appends the value of the entry p found to dst.
func (t *table) appendValue(op string, p *probe, dst []byte) ([]byte, error) {
	n := len(dst)
	dst = slices.Grow(dst, int(p.vlen))[:n+int(p.vlen)]
	return dst, t.copyValue(op, p, dst[n:])
}

// copyValue copies the value of the entry p found into dst, of its length.
func (t *table) copyValue(op string, p *probe, dst []byte) error {
	if p.klen+p.vlen <= mapHeadData {
		at := t.head(p.ref) + mapEntHead + p.klen
		copy(dst, t.mem[at:at+p.vlen])
		return nil
	}
	return t.walk(op, p.ref, p.klen, p.vlen, func(pos uint64, b []byte) bool {
		copy(dst[pos:], b)
		return true
	})
}

// get appends key's value to dst, and reports whether key is present.
func (t *table) get(op string, key, dst []byte) ([]byte, bool, error) {
	h := hashKey(t.g.seed, key)
	if err := t.rlock(op); err != nil {
		return dst, false, err
	}
	var p probe
	err := t.find(op, key, h, &p)
	if err == nil && p.ref != 0 {
		dst, err = t.appendValue(op, &p, dst)
	}
	if testHookMapRead != nil {
		testHookMapRead()
	}
	t.rw.RUnlock()
	return dst, err == nil && p.ref != 0, err
}

// getFixed copies key's value into dst, whose length is that of every
// value of the map, and reports whether key is present.
func (t *table) getFixed(op string, key, dst []byte) (bool, error) {
	h := hashKey(t.g.seed, key)
	if err := t.rlock(op); err != nil {
		return false, err
	}
	var p probe
	err := t.find(op, key, h, &p)
	if err == nil && p.ref != 0 {
		if p.vlen != uint64(len(dst)) {
			err = t.corrupt(op, "entry.vlen", t.head(p.ref)+entVLen, "a %d-byte value, the map's values are %d bytes", p.vlen, len(dst))
		} else {
			err = t.copyValue(op, &p, dst)
		}
	}
	t.rw.RUnlock()
	return err == nil && p.ref != 0, err
}

// length returns the number of entries.
func (t *table) length() int {
	if t.rlock("map len") != nil {
		return 0
	}
	// Under the read lock: the count the last writer stored (W5).
	n := atomic.LoadUint32(t.count)
	t.rw.RUnlock()
	return int(min(uint64(n), t.g.entries))
}

// ---- Writes ----

// put sets key's value to val.
func (t *table) put(op string, key, val []byte) error {
	h := hashKey(t.g.seed, key)
	if err := t.wlock(op); err != nil {
		return err
	}
	defer t.rw.Unlock()
	var p probe
	if err := t.find(op, key, h, &p); err != nil {
		return err
	}
	return t.set(op, key, val, h, &p)
}

// update runs fn on a copy of key's value under the write lock, and stores
// what it returns if it says so.
func (t *table) update(op string, key []byte, fn func(old []byte, ok bool) ([]byte, bool)) error {
	h := hashKey(t.g.seed, key)
	// The copy of the old value goes into a buffer from a pool: goroutines
	// of this process may be in update at once, one holding the lock and
	// others waiting for it, each with its own buffer.
	buf := t.bufs.Get().(*[]byte)
	if err := t.wlock(op); err != nil {
		t.bufs.Put(buf)
		return err
	}
	defer t.rw.Unlock() // also if fn panics
	var p probe
	if err := t.find(op, key, h, &p); err != nil {
		t.bufs.Put(buf)
		return err
	}
	var old []byte
	if p.ref != 0 {
		var err error
		if old, err = t.appendValue(op, &p, (*buf)[:0]); err != nil {
			return err
		}
		*buf = old
	}
	val, store := fn(old, p.ref != 0)
	var err error
	if store {
		err = t.set(op, key, val, h, &p)
	}
	if cap(*buf) <= 64<<10 {
		t.bufs.Put(buf)
	}
	return err
}

// set makes val the value of key (hash h), which find left in p, the
// caller holding the write lock: W1 to W5.
func (t *table) set(op string, key, val []byte, h uint64, p *probe) error {
	n := uint64(len(key)) + uint64(len(val))
	if n > t.g.maxEntry {
		return t.noSpace(op, "a key and value of %d bytes, the map's entries hold at most %d", n, t.g.maxEntry)
	}
	count, used := uint64(*t.count), *t.used // under the write lock: plain loads
	old := p.klen + p.vlen
	switch {
	case count > t.g.entries:
		atomic.StoreUint32(t.dirty, 1) // the next locker recounts
		return t.corrupt(op, "count", offMapCount, "%d entries, the map holds at most %d", count, t.g.entries)
	case used > t.g.bytes || p.ref != 0 && old > used:
		atomic.StoreUint32(t.dirty, 1) // the next locker recounts
		return t.corrupt(op, "used", offMapUsed, "%d bytes in use, the map holds at most %d", used, t.g.bytes)
	case p.ref == 0 && count == t.g.entries:
		return t.noSpace(op, "the map holds %d entries, its capacity", count)
	case used-old+n > t.g.bytes:
		return t.noSpace(op, "%d more bytes of keys and values: %d of the map's %d are in use", n, used, t.g.bytes)
	}
	// W1. Marks the table as being changed, before any store of the
	// change: a process killed from here to W5 leaves the mark set.
	atomic.StoreUint32(t.dirty, 1)
	// W2.
	c, err := t.write(op, uint32(h>>32), p.next, key, val)
	if err != nil {
		return err // Dirty stays set: the next locker repairs
	}
	mapHook(mapHookWritten)
	// W3.
	t.publish(p.link, c)
	mapHook(mapHookLinked)
	if p.ref != 0 {
		// W4.
		if err := t.release(op, p.ref, old); err != nil {
			return err
		}
		mapHook(mapHookFreed)
	} else {
		count++
	}
	t.finish(count, used-old+n)
	return nil
}

// finish is W5: it stores the counts, then clears Dirty.
func (t *table) finish(count, used uint64) {
	// Plain stores: the lock orders them before the next locker's loads.
	*t.count = uint32(count)
	*t.used = used
	// Marks the table consistent: the free list and the counts match the
	// chains again. Atomic, so that no store of the change before it
	// (W2..W5) is moved after it: a process killed before this store
	// leaves the mark set.
	atomic.StoreUint32(t.dirty, 0)
}

// write is W2: it pops the chunks an entry of key and val takes from the
// free list and writes the entry into them, with next as its next, and
// returns its head chunk.
func (t *table) write(op string, tag, next uint32, key, val []byte) (uint32, error) {
	n := uint64(len(key)) + uint64(len(val))
	k := chunksFor(n)
	free := uint64(t.u32(offMapFreeCount))
	if free < k || free > t.g.chunks {
		return 0, t.corrupt(op, "free_count", offMapFreeCount, "%d free chunks, fewer than the %d the entry takes, which the map's capacity promises", free, k)
	}
	first := t.u32(offMapFree)
	c, at, last := first, uint64(offMapFree), uint32(0)
	for i, pos := uint64(0), uint64(0); i < k; i++ {
		if c == 0 || uint64(c) > t.g.chunks {
			return 0, t.badChunk(op, at, c)
		}
		base, size := t.head(c), uint64(mapChunk)
		if i == 0 {
			e := t.mem[base : base+mapEntHead]
			mapNE.PutUint32(e[entNext:], next)
			mapNE.PutUint32(e[entTag:], tag)
			mapNE.PutUint32(e[entKLen:], uint32(len(key)))
			mapNE.PutUint32(e[entVLen:], uint32(len(val)))
			base, size = base+mapEntHead, mapHeadData
		}
		w := min(size, n-pos)
		fill(t.mem[base:base+w], key, val, pos)
		pos += w
		last, at = c, t.linkAt(c)
		c = t.u32(at)
	}
	switch {
	case uint64(c) > t.g.chunks:
		return 0, t.badChunk(op, at, c)
	case (c == 0) != (free == k):
		return 0, t.corrupt(op, "free_count", offMapFreeCount, "%d free chunks, but the free list ends after %d", free, k)
	}
	t.put32(t.linkAt(last), 0) // the entry's chain ends here
	t.put32(offMapFree, c)
	t.put32(offMapFreeCount, uint32(free-k))
	return first, nil
}

// fill copies bytes [pos, pos+len(dst)) of key followed by val into dst.
func fill(dst, key, val []byte, pos uint64) {
	if pos < uint64(len(key)) {
		n := copy(dst, key[pos:])
		dst, pos = dst[n:], 0
	} else {
		pos -= uint64(len(key))
	}
	copy(dst, val[pos:])
}

// release is W4: it pushes the chunks of the entry whose head is c, of n
// bytes, onto the free list.
func (t *table) release(op string, c uint32, n uint64) error {
	k := chunksFor(n)
	last := c
	for i := uint64(1); i < k; i++ {
		at := t.linkAt(last)
		if last = t.u32(at); last == 0 || uint64(last) > t.g.chunks {
			return t.corrupt(op, "link", at, "chunk %d in an entry's chain, want 1 to %d", last, t.g.chunks)
		}
	}
	free := uint64(t.u32(offMapFreeCount))
	if free+k > t.g.chunks {
		return t.corrupt(op, "free_count", offMapFreeCount, "%d free chunks and %d more, the map has %d", free, k, t.g.chunks)
	}
	t.put32(t.linkAt(last), t.u32(offMapFree))
	mapHook(mapHookFreeing)
	t.put32(offMapFree, c)
	t.put32(offMapFreeCount, uint32(free+k))
	return nil
}

// del deletes key, and reports whether it was present.
func (t *table) del(op string, key []byte) (bool, error) {
	h := hashKey(t.g.seed, key)
	if err := t.wlock(op); err != nil {
		return false, err
	}
	defer t.rw.Unlock()
	var p probe
	if err := t.find(op, key, h, &p); err != nil || p.ref == 0 {
		return false, err
	}
	count, used, n := uint64(*t.count), *t.used, p.klen+p.vlen
	if count == 0 || count > t.g.entries || n > used || used > t.g.bytes {
		atomic.StoreUint32(t.dirty, 1) // the next locker recounts
		return false, t.corrupt(op, "count", offMapCount, "%d entries of %d bytes, deleting one of %d", count, used, n)
	}
	// W1, as in set.
	atomic.StoreUint32(t.dirty, 1)
	// W3: unlink.
	t.publish(p.link, p.next)
	mapHook(mapHookLinked)
	// W4.
	if err := t.release(op, p.ref, n); err != nil {
		return true, err
	}
	mapHook(mapHookFreed)
	t.finish(count-1, used-n)
	return true, nil
}

// clear deletes every entry. It does not repair first: it rebuilds the
// whole table, which is how a damaged map is made usable again.
func (t *table) clear(op string) error {
	_ = t.rw.LockContext(context.Background()) // nil or ErrOwnerDead: rebuilt below either way
	defer t.rw.Unlock()
	// Marks the table as being changed: a process killed before finish
	// leaves the rest to a repair.
	atomic.StoreUint32(t.dirty, 1)
	for b := uint64(0); b < t.g.buckets; b++ {
		if b == t.g.buckets/2 {
			mapHook(mapHookClearing)
		}
		// Unlinks the bucket's chain whole: the buckets not yet emptied
		// still hold complete chains, which a repair keeps.
		t.publish(t.g.bucketsOff+b*4, 0)
	}
	for c := uint64(1); c <= t.g.chunks; c++ {
		t.put32(t.linkAt(uint32(c)), uint32((c+1)%(t.g.chunks+1)))
	}
	t.put32(offMapFree, 1)
	t.put32(offMapFreeCount, uint32(t.g.chunks))
	t.finish(0, 0)
	return nil
}

// ---- Repair ----

// repair makes the table consistent after a writer died between W1 and W5,
// the caller holding the write lock: it walks every chain, checking each
// entry and marking its chunks, recounts, and puts every unmarked chunk on
// a new free list. It is a mark-and-sweep over the arena, O(buckets +
// chunks). If a chain is damaged (a peer scribbled: no death leaves one
// so) it returns ErrCorrupt and leaves Dirty set; Clear empties the map.
func (t *table) repair(op string) error {
	// Marks the table as being changed, in case it was not (the writer
	// died holding the lock outside W1..W5) and this repair dies too.
	atomic.StoreUint32(t.dirty, 1)
	marks := make([]uint64, (t.g.chunks+1+63)/64)
	mark := func(c uint32) bool {
		w, bit := &marks[c/64], uint64(1)<<(c%64)
		seen := *w&bit != 0
		*w |= bit
		return seen
	}
	var count, used uint64
	for b := uint64(0); b < t.g.buckets; b++ {
		at := t.g.bucketsOff + b*4
		for c, steps := t.u32(at), uint64(0); c != 0; steps++ {
			switch {
			case uint64(c) > t.g.chunks:
				return t.badChunk(op, at, c)
			case steps == t.g.entries || count == t.g.entries:
				return t.corrupt(op, t.linkField(at), at, "the chains hold more than the map's %d entries", t.g.entries)
			case mark(c):
				return t.corrupt(op, t.linkField(at), at, "chunk %d is linked twice", c)
			}
			head := t.head(c)
			n := uint64(t.u32(head+entKLen)) + uint64(t.u32(head+entVLen))
			if n > t.g.maxEntry {
				return t.corrupt(op, "entry.vlen", head+entVLen, "an entry of %d bytes, the map's entries hold at most %d", n, t.g.maxEntry)
			}
			d := c
			for i := uint64(1); i < chunksFor(n); i++ {
				la := t.linkAt(d)
				if d = t.u32(la); d == 0 || uint64(d) > t.g.chunks || mark(d) {
					return t.corrupt(op, "link", la, "chunk %d in an entry's chain is out of range or linked twice", d)
				}
			}
			count++
			used += n
			at = head + entNext
			c = t.u32(at)
		}
	}
	if used > t.g.bytes {
		return t.corrupt(op, "used", offMapUsed, "the chains hold %d bytes, the map at most %d", used, t.g.bytes)
	}
	free, nfree := uint32(0), uint64(0)
	for c := uint32(t.g.chunks); c >= 1; c-- {
		if c == uint32(t.g.chunks/2) {
			mapHook(mapHookRepairing)
		}
		if marks[c/64]&(1<<(c%64)) == 0 {
			t.put32(t.linkAt(c), free)
			free = c
			nfree++
		}
	}
	t.put32(offMapFree, free)
	t.put32(offMapFreeCount, uint32(nfree))
	atomic.AddUint64(t.repairs, 1) // statistics; publishes nothing
	t.finish(count, used)
	return nil
}

// ---- Iteration ----

// rangeBatch is how many bytes of keys and values Range copies under one
// read lock, at least; it always finishes a bucket.
const rangeBatch = 16 << 10

// collect appends the key and value of each entry of bucket b to buf, and
// their lengths to lens, the caller holding a read lock.
func (t *table) collect(op string, b uint64, buf []byte, lens []uint64) ([]byte, []uint64, error) {
	at := t.g.bucketsOff + b*4
	for c, steps := t.u32(at), uint64(0); c != 0; steps++ {
		switch {
		case uint64(c) > t.g.chunks:
			return buf, lens, t.badChunk(op, at, c)
		case steps == t.g.entries:
			return buf, lens, t.corrupt(op, t.linkField(at), at, "a bucket's chain is longer than the map's %d entries", t.g.entries)
		}
		head := t.head(c)
		klen := uint64(t.u32(head + entKLen))
		n := klen + uint64(t.u32(head+entVLen))
		if n > t.g.maxEntry {
			return buf, lens, t.corrupt(op, "entry.vlen", head+entVLen, "an entry of %d bytes, the map's entries hold at most %d", n, t.g.maxEntry)
		}
		// Key and value are contiguous in the data: one copy of both.
		p := probe{ref: c, vlen: n}
		var err error
		if buf, err = t.appendValue(op, &p, buf); err != nil {
			return buf, lens, err
		}
		lens = append(lens, klen, n)
		at = head + entNext
		c = t.u32(at)
	}
	return buf, lens, nil
}

// entries calls fn with each key and value that collect copied into buf
// (their lengths in lens), in order, until fn returns false; it reports
// whether fn saw them all.
func entries(buf []byte, lens []uint64, fn func(key, val []byte) bool) bool {
	pos := uint64(0)
	for i := 0; i < len(lens); i += 2 {
		k, n := lens[i], lens[i+1]
		if !fn(buf[pos:pos+k:pos+k], buf[pos+k:pos+n:pos+n]) {
			return false
		}
		pos += n
	}
	return true
}

// each calls fn for every entry, as Range documents: bucket by bucket,
// copying a batch of buckets under the read lock and calling fn without
// it.
func (t *table) each(op string, fn func(key, val []byte) bool) error {
	var buf []byte
	var lens []uint64
	for b := uint64(0); b < t.g.buckets; {
		buf, lens = buf[:0], lens[:0]
		if err := t.rlock(op); err != nil {
			return err
		}
		var err error
		for ; b < t.g.buckets && len(buf) < rangeBatch && err == nil; b++ {
			buf, lens, err = t.collect(op, b, buf, lens)
		}
		t.rw.RUnlock()
		if err != nil {
			return err
		}
		if !entries(buf, lens, fn) {
			return nil
		}
	}
	return nil
}

// snapshot calls fn for every entry, copied under one read lock: a
// consistent snapshot.
func (t *table) snapshot(op string, fn func(key, val []byte)) error {
	var buf []byte
	var lens []uint64
	if err := t.rlock(op); err != nil {
		return err
	}
	var err error
	for b := uint64(0); b < t.g.buckets && err == nil; b++ {
		buf, lens, err = t.collect(op, b, buf, lens)
	}
	t.rw.RUnlock()
	if err != nil {
		return err
	}
	entries(buf, lens, func(key, val []byte) bool {
		fn(key, val)
		return true
	})
	return nil
}

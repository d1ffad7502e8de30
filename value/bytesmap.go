package value

import (
	"fmt"
	"math/rand/v2"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/typelayout"
	"github.com/shmkit/shmkit/shm"
)

// Operation names in errors.
const (
	opMapGet      = "map get"
	opMapPut      = "map put"
	opMapDelete   = "map delete"
	opMapUpdate   = "map update"
	opMapRange    = "map range"
	opMapSnapshot = "map snapshot"
	opMapClear    = "map clear"
)

// createTable allocates a map object called name in seg of geometry g,
// with type header h, and initialises it before it becomes visible.
func createTable(seg *shm.Segment, name string, g mapGeometry, h typelayout.Header) (*table, error) {
	mem, err := seg.Alloc(name, shm.KindMap, int(g.size), 0, func(mem []byte) error {
		typelayout.Put(mem, h)
		putGeometry(mem, g)
		initTable(mem, g)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return newTable(seg, name, mem, g)
}

// openTable finds the map object called name in seg and validates it: the
// type header (form, type fields, size, checksum), then the geometry
// (fields, bounds, checksum). Any fault is shm.ErrCorrupt in a *shm.Error
// naming the field. It returns shm.ErrWrongKind if the map is not of form
// (match, if not nil, compares a typed map's types).
func openTable(seg *shm.Segment, name string, form uint32, match func(typelayout.Header) error) (*table, error) {
	const op = "open map"
	mem, err := seg.Lookup(name, shm.KindMap)
	if err != nil {
		return nil, err
	}
	known := func(f uint32) bool { return f == formBytesMap || f == formTypedMap }
	h, f := typelayout.Check(mem, known, func(h typelayout.Header, size int) *typelayout.Fault {
		switch {
		case size < offMapTable:
			return typelayout.Faultf("", -1, "object is %d bytes, shorter than a map's %d-byte header", size, offMapTable)
		case h.Count == 0 || h.Count > maxMapEntries:
			return typelayout.Faultf("count", typelayout.OffCount, "%d entries, want 1 to %d", h.Count, maxMapEntries)
		case h.Form == formBytesMap && (h.Size != 0 || h.Align != 1):
			return typelayout.Faultf("size", typelayout.OffSize, "a map of byte strings records size %d, alignment %d; want 0, 1", h.Size, h.Align)
		}
		return nil
	})
	if f == nil {
		var g mapGeometry
		if g, f = readGeometry(mem, h); f == nil {
			if h.Form != form {
				return nil, &shm.Error{Op: op, Segment: seg.Name(), Object: name, Offset: -1,
					Err: fmt.Errorf("%w: it is %s, not %s", shm.ErrWrongKind, mapFormName(h.Form), mapFormName(form))}
			}
			if match != nil {
				if err := match(h); err != nil {
					return nil, &shm.Error{Op: op, Segment: seg.Name(), Object: name, Offset: -1, Err: err}
				}
			}
			return newTable(seg, name, mem, g)
		}
	}
	return nil, f.Report(op, seg, name)
}

func mapFormName(form uint32) string {
	if form == formTypedMap {
		return "a map of fixed-size keys and values (NewMap)"
	}
	return "a map of byte strings (NewBytesMap, NewMapWith)"
}

// BytesMap is a hash map in shared memory whose keys and values are byte
// strings: what Python's Manager().dict() gives, with the data in the
// segment. Make one with NewBytesMap or OpenBytesMap; the zero BytesMap is
// not usable. Map is the typed layer over the same object.
//
// Readers (Get, Len, Range, Snapshot) share the map's read lock and do not
// block each other; writers (Put, Delete, Update, Clear) take it for
// writing, one at a time, and each is atomic. A process killed in any of
// them leaves every key with its old or its new value (see the package
// documentation, "Map crash behaviour"). A BytesMap handle is safe for
// concurrent use by the goroutines of one process.
type BytesMap struct {
	_ layout.NoCopy
	t *table
}

// NewBytesMap creates an empty BytesMap called name in seg, of the capacity
// opt gives. It returns an error if the options are out of range, and one
// wrapping shm.ErrNoSpace if the map does not fit in the segment: it takes
// at most about 84 × Entries + 1.07 × (Bytes + MaxEntryBytes) bytes, plus 4
// per bucket (the buckets are Entries rounded up to a power of two); less
// when MaxEntryBytes is small (the package documentation has the formula).
func NewBytesMap(seg *shm.Segment, name string, opt MapOptions) (*BytesMap, error) {
	g, err := opt.geometry(rand.Uint64())
	if err != nil {
		return nil, err
	}
	t, err := createTable(seg, name, g, typelayout.Header{Form: formBytesMap, Align: 1, Count: g.entries})
	if err != nil {
		return nil, err
	}
	return &BytesMap{t: t}, nil
}

// OpenBytesMap returns the BytesMap called name in seg, created by
// NewBytesMap (or NewMapWith) in this or another process. It returns an
// error wrapping shm.ErrWrongKind for a map NewMap created, and
// shm.ErrCorrupt, in a *shm.Error naming the field, when the map's header
// or geometry is damaged.
func OpenBytesMap(seg *shm.Segment, name string) (*BytesMap, error) {
	t, err := openTable(seg, name, formBytesMap, nil)
	if err != nil {
		return nil, err
	}
	return &BytesMap{t: t}, nil
}

// Get appends the value of key to dst[:0] and returns it, and whether the
// key is present (dst[:0] and false if it is not). It takes the read lock,
// finds the key's entry and copies its value: no allocation when dst has
// room for it.
//
// The error is nil, or wraps shm.ErrCorrupt (a *shm.Error naming the field)
// when a word of the map read on the way is out of range.
func (m *BytesMap) Get(key, dst []byte) ([]byte, bool, error) {
	return m.t.get(opMapGet, key, dst[:0])
}

// Put sets the value of key, adding the key if it is absent. The map keeps
// its own copies of key and value.
//
// It returns an error wrapping shm.ErrNoSpace when the key is new and the
// map holds Entries entries, when the keys and values would take more than
// Bytes bytes, or when key and value together are over MaxEntryBytes; the
// map is unchanged then. Any set of entries within those bounds fits,
// whatever was put and deleted before.
func (m *BytesMap) Put(key, value []byte) error {
	return m.t.put(opMapPut, key, value)
}

// Delete deletes key, and reports whether it was present. Its entry's space
// is free for the next Put at once.
func (m *BytesMap) Delete(key []byte) (bool, error) {
	return m.t.del(opMapDelete, key)
}

// Update is an atomic read-modify-write of key: under the write lock, it
// calls fn with a copy of key's value and true, or nil and false if the key
// is absent, and if fn returns store = true it sets key's value to what fn
// returns (as Put: shm.ErrNoSpace if it does not fit). No other writer of
// any process comes between the read and the write; readers see the old
// value until fn returns.
//
// fn runs once, holding the map's write lock: it must be quick, must not
// keep old (a buffer reused by later calls), and must not call the map's
// methods, which would wait for the lock it holds. If fn panics, the map is
// unchanged and the lock released. A process killed in fn leaves the map
// unchanged.
func (m *BytesMap) Update(key []byte, fn func(old []byte, ok bool) (value []byte, store bool)) error {
	return m.t.update(opMapUpdate, key, fn)
}

// Len returns the number of entries. It returns 0 if the map is damaged
// (the other methods say how).
func (m *BytesMap) Len() int { return m.t.length() }

// Cap returns the most entries the map holds: its Entries.
func (m *BytesMap) Cap() int { return int(m.t.g.entries) }

// Range calls fn for each entry until fn returns false. key and value are
// valid only during the call. It holds no lock while fn runs, so fn may
// call any method of the map.
//
// It copies the entries under the read lock a batch of buckets at a time
// (at least 16 KiB of keys and values), so it is not a snapshot; what it
// guarantees is Go's map iteration rule: each key present for the whole of
// Range is seen exactly once, with a value it had while Range ran; a key
// put or deleted meanwhile is seen at most once. Snapshot gives one moment
// of the whole map.
func (m *BytesMap) Range(fn func(key, value []byte) bool) error {
	return m.t.each(opMapRange, fn)
}

// Snapshot returns a copy of the whole map, made under one read lock: the
// entries as they were at one moment. Writers wait while it copies.
func (m *BytesMap) Snapshot() (map[string][]byte, error) {
	out := make(map[string][]byte)
	err := m.t.snapshot(opMapSnapshot, func(k, v []byte) {
		out[string(k)] = append([]byte{}, v...)
	})
	return out, err
}

// Clear deletes every entry. It rebuilds the whole table without reading
// it, so it also makes a damaged map usable again (empty). It is not
// atomic: a process killed during it leaves some of the entries, each
// whole.
func (m *BytesMap) Clear() error {
	return m.t.clear(opMapClear)
}

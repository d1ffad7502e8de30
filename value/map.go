package value

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"unsafe"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/typelayout"
	"github.com/shmkit/shmkit/shm"
)

// Map is a hash map from K to V in shared memory: Python's Manager().dict(),
// typed, with the data in the segment so that an access costs a lock and a
// lookup, not a round trip to a server process. Make one with NewMap (K and
// V fixed-size types without pointers, stored as their bytes), or
// NewMapWith (any K and V, through codecs), or open one with OpenMap or
// OpenMapWith; the zero Map is not usable.
//
// Keys are compared by their stored bytes. For NewMap's maps that differs
// from Go's == only for floating-point keys: +0 and -0 are different keys,
// and a NaN key is found again (padding and blank fields are zeroed, so
// they do not matter).
//
// Readers (Get, Len, Range, Snapshot) share the map's read lock and do not
// block each other; writers (Put, Delete, Update, Clear) take it for
// writing, one at a time, and each is atomic. A process killed in any of
// them leaves every key with its old or its new value (see the package
// documentation). A Map handle is safe for concurrent use by the goroutines
// of one process.
type Map[K comparable, V any] struct {
	_    layout.NoCopy
	t    *table
	kc   Codec[K]
	vc   Codec[V]
	kf   *fixedType // non-nil: keys are K's bytes, kc is not called
	vf   *fixedType // non-nil: values are V's bytes, vc is not called
	fast bool       // kf and vf without padding: Get and Put copy in place
	bufs sync.Pool  // of *[]byte: encodings
}

// NewMap creates an empty Map called name in seg that holds up to entries
// entries, of key type K and value type V: fixed-size types without
// pointers (the types New accepts), stored as their bytes. Any other K or V
// is refused with an error wrapping ErrUnsupportedType; use NewMapWith and
// codecs for those.
//
// The map records the layout of struct{Key K; Value V} (its size, alignment
// and fingerprint), which OpenMap checks. Its byte capacity is exactly
// entries entries, so Put fails with shm.ErrNoSpace only when a new key
// would make one more. It takes about 68 × (entries+1) × ⌈(size of K +
// size of V + 16) / 64⌉ bytes of the segment, plus 4 bytes per bucket
// (entries rounded up to a power of two).
func NewMap[K comparable, V any](seg *shm.Segment, name string, entries int) (*Map[K, V], error) {
	kf, vf, l, err := mapTypes[K, V]()
	if err != nil {
		return nil, err
	}
	m := uint64(kf.size + vf.size)
	if entries < 1 || entries > maxMapEntries || m*uint64(entries) > maxMapBytes {
		return nil, fmt.Errorf("value: NewMap of %d entries of %d bytes: want 1 to %d entries, %d bytes in all", entries, m, maxMapEntries, uint64(maxMapBytes))
	}
	g, ok := newGeometry(uint64(entries), m*uint64(entries), m, rand.Uint64())
	if !ok {
		return nil, fmt.Errorf("value: NewMap of %d entries of %d bytes: %w", entries, m, shm.ErrNoSpace)
	}
	t, err := createTable(seg, name, g, l.Header(formTypedMap, uint64(entries)))
	if err != nil {
		return nil, err
	}
	return newMap[K, V](t, FixedCodec[K]{}, FixedCodec[V]{}, kf, vf), nil
}

// OpenMap returns the Map called name in seg, created by NewMap[K, V] in
// this or another process. It returns an error wrapping shm.ErrWrongKind,
// which says what differs, for a map created by NewMapWith or
// NewBytesMap, or for other key and value types (their layouts are
// compared, not their names); and shm.ErrCorrupt, in a *shm.Error naming
// the field, when the map's header or geometry is damaged.
func OpenMap[K comparable, V any](seg *shm.Segment, name string) (*Map[K, V], error) {
	kf, vf, l, err := mapTypes[K, V]()
	if err != nil {
		return nil, err
	}
	t, err := openTable(seg, name, formTypedMap, l.Match)
	if err != nil {
		return nil, err
	}
	return newMap[K, V](t, FixedCodec[K]{}, FixedCodec[V]{}, kf, vf), nil
}

// mapTypes checks K and V for NewMap and OpenMap and returns their
// descriptions and the layout of struct{Key K; Value V}, which the map's
// header records.
func mapTypes[K comparable, V any]() (*fixedType, *fixedType, *typelayout.Layout, error) {
	kf, err := fixedOf[K]()
	if err != nil {
		return nil, nil, nil, err
	}
	vf, err := fixedOf[V]()
	if err != nil {
		return nil, nil, nil, err
	}
	pair := reflect.StructOf([]reflect.StructField{
		{Name: "Key", Type: reflect.TypeFor[K]()},
		{Name: "Value", Type: reflect.TypeFor[V]()},
	})
	l, err := typelayout.For(pair)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("value: %w", err)
	}
	return kf, vf, l, nil
}

// NewMapWith creates an empty Map called name in seg, of the capacity opt
// gives (as NewBytesMap), whose keys and values are stored as kc and vc
// encode them. Every process must open it with the same codecs: the map
// records no types (it is a map of byte strings, which OpenBytesMap also
// opens). A FixedCodec is applied without being called, as in NewMap.
func NewMapWith[K comparable, V any](seg *shm.Segment, name string, opt MapOptions, kc Codec[K], vc Codec[V]) (*Map[K, V], error) {
	kf, vf, err := codecTypes(kc, vc)
	if err != nil {
		return nil, err
	}
	bm, err := NewBytesMap(seg, name, opt)
	if err != nil {
		return nil, err
	}
	return newMap(bm.t, kc, vc, kf, vf), nil
}

// OpenMapWith returns the Map called name in seg, created by NewMapWith (or
// NewBytesMap) in this or another process, with the codecs it was created
// with. Errors are as for OpenBytesMap.
func OpenMapWith[K comparable, V any](seg *shm.Segment, name string, kc Codec[K], vc Codec[V]) (*Map[K, V], error) {
	kf, vf, err := codecTypes(kc, vc)
	if err != nil {
		return nil, err
	}
	bm, err := OpenBytesMap(seg, name)
	if err != nil {
		return nil, err
	}
	return newMap(bm.t, kc, vc, kf, vf), nil
}

// codecTypes returns the descriptions of the sides whose codec is a
// FixedCodec, checking their types.
func codecTypes[K comparable, V any](kc Codec[K], vc Codec[V]) (kf, vf *fixedType, err error) {
	if kc == nil || vc == nil {
		panic("value: NewMapWith or OpenMapWith with a nil codec")
	}
	if _, ok := kc.(FixedCodec[K]); ok {
		if kf, err = fixedOf[K](); err != nil {
			return nil, nil, err
		}
	}
	if _, ok := vc.(FixedCodec[V]); ok {
		if vf, err = fixedOf[V](); err != nil {
			return nil, nil, err
		}
	}
	return kf, vf, nil
}

func newMap[K comparable, V any](t *table, kc Codec[K], vc Codec[V], kf, vf *fixedType) *Map[K, V] {
	m := &Map[K, V]{t: t, kc: kc, vc: vc, kf: kf, vf: vf}
	m.fast = kf != nil && vf != nil && len(kf.pads) == 0 && len(vf.pads) == 0
	m.bufs.New = func() any { return new([]byte) }
	return m
}

// Get returns the value of k, and whether k is present (the zero V and
// false if it is not). For a map of NewMap whose K and V have no padding it
// takes the read lock, finds the entry and copies its bytes into the V it
// returns, with no allocation.
//
// The error is nil; or wraps shm.ErrCorrupt (a *shm.Error naming the field)
// when a word of the map read on the way is out of range; or is a codec's.
func (m *Map[K, V]) Get(k K) (v V, ok bool, err error) {
	if m.fast {
		ok, err = m.t.getFixed(opMapGet, unsafe.Slice((*byte)(unsafe.Pointer(&k)), m.kf.size), unsafe.Slice((*byte)(unsafe.Pointer(&v)), m.vf.size))
		if !ok {
			var zero V
			v = zero
		}
		return v, ok, err
	}
	kb, vb := m.bufs.Get().(*[]byte), m.bufs.Get().(*[]byte)
	defer m.bufs.Put(kb)
	defer m.bufs.Put(vb)
	key, err := m.key(&k, kb)
	if err != nil {
		return v, false, err
	}
	*vb, ok, err = m.t.get(opMapGet, key, (*vb)[:0])
	if !ok || err != nil {
		return v, false, err
	}
	v, err = m.value(opMapGet, *vb)
	return v, err == nil, err
}

// Put sets the value of k, adding k if it is absent. It returns an error
// wrapping shm.ErrNoSpace when the map is full (see BytesMap.Put); the map
// is unchanged then.
func (m *Map[K, V]) Put(k K, v V) error {
	if m.fast {
		return m.t.put(opMapPut, unsafe.Slice((*byte)(unsafe.Pointer(&k)), m.kf.size), unsafe.Slice((*byte)(unsafe.Pointer(&v)), m.vf.size))
	}
	kb, vb := m.bufs.Get().(*[]byte), m.bufs.Get().(*[]byte)
	defer m.bufs.Put(kb)
	defer m.bufs.Put(vb)
	key, err := m.key(&k, kb)
	if err != nil {
		return err
	}
	val, err := m.encodeValue(&v, vb)
	if err != nil {
		return err
	}
	return m.t.put(opMapPut, key, val)
}

// Delete deletes k, and reports whether it was present.
func (m *Map[K, V]) Delete(k K) (bool, error) {
	kb := m.bufs.Get().(*[]byte)
	defer m.bufs.Put(kb)
	key, err := m.key(&k, kb)
	if err != nil {
		return false, err
	}
	return m.t.del(opMapDelete, key)
}

// Update is an atomic read-modify-write of k, Python's
// "with lock: d[k] = f(d.get(k))": under the map's write lock, it calls fn
// with k's value and true, or the zero V and false if k is absent, and if
// fn returns store = true it sets k's value to what fn returns (as Put). No
// other writer of any process comes between the read and the write.
//
//	err := m.Update("hits", func(n int64, _ bool) (int64, bool) { return n + 1, true })
//
// fn runs once, holding the write lock: it must be quick and must not call
// the map's methods, which would wait for the lock it holds. If fn panics,
// the map is unchanged and the lock released. A process killed in fn
// leaves the map unchanged.
func (m *Map[K, V]) Update(k K, fn func(old V, ok bool) (value V, store bool)) error {
	kb, vb := m.bufs.Get().(*[]byte), m.bufs.Get().(*[]byte)
	key, err := m.key(&k, kb)
	if err != nil {
		m.bufs.Put(kb)
		m.bufs.Put(vb)
		return err
	}
	var cerr error // a codec's error, or a damaged value, from inside the update
	err = m.t.update(opMapUpdate, key, func(old []byte, ok bool) ([]byte, bool) {
		var cur V
		if ok {
			if cur, cerr = m.value(opMapUpdate, old); cerr != nil {
				return nil, false
			}
		}
		nv, store := fn(cur, ok)
		if !store {
			return nil, false
		}
		var b []byte
		b, cerr = m.encodeValue(&nv, vb)
		return b, cerr == nil
	})
	m.bufs.Put(kb)
	m.bufs.Put(vb)
	if err == nil {
		err = cerr
	}
	return err
}

// Len returns the number of entries. It returns 0 if the map is damaged
// (the other methods say how).
func (m *Map[K, V]) Len() int { return m.t.length() }

// Cap returns the most entries the map holds.
func (m *Map[K, V]) Cap() int { return int(m.t.g.entries) }

// Range calls fn for each entry until fn returns false, holding no lock
// while fn runs (fn may call any method of the map). It is not a snapshot:
// each key present for the whole of Range is seen exactly once, with a
// value it had while Range ran; a key put or deleted meanwhile is seen at
// most once (see BytesMap.Range). Snapshot gives one moment of the whole
// map.
func (m *Map[K, V]) Range(fn func(k K, v V) bool) error {
	var cerr error
	err := m.t.each(opMapRange, func(kb, vb []byte) bool {
		var k K
		var v V
		if k, cerr = m.decodeKey(opMapRange, kb); cerr != nil {
			return false
		}
		if v, cerr = m.value(opMapRange, vb); cerr != nil {
			return false
		}
		return fn(k, v)
	})
	if err == nil {
		err = cerr
	}
	return err
}

// Snapshot returns a copy of the whole map, made under one read lock: the
// entries as they were at one moment. Writers wait while it copies.
func (m *Map[K, V]) Snapshot() (map[K]V, error) {
	out := make(map[K]V)
	var cerr error
	err := m.t.snapshot(opMapSnapshot, func(kb, vb []byte) {
		if cerr != nil {
			return
		}
		var k K
		var v V
		if k, cerr = m.decodeKey(opMapSnapshot, kb); cerr == nil {
			if v, cerr = m.value(opMapSnapshot, vb); cerr == nil {
				out[k] = v
			}
		}
	})
	if err == nil {
		err = cerr
	}
	return out, err
}

// Clear deletes every entry (see BytesMap.Clear).
func (m *Map[K, V]) Clear() error { return m.t.clear(opMapClear) }

// key returns the bytes the map stores for k.
func (m *Map[K, V]) key(k *K, buf *[]byte) ([]byte, error) {
	if m.kf != nil {
		return m.kf.bytes(unsafe.Pointer(k), buf), nil
	}
	b, err := m.kc.Append((*buf)[:0], *k)
	*buf = b
	return b, err
}

// encodeValue returns the bytes the map stores for v.
func (m *Map[K, V]) encodeValue(v *V, buf *[]byte) ([]byte, error) {
	if m.vf != nil {
		return m.vf.bytes(unsafe.Pointer(v), buf), nil
	}
	b, err := m.vc.Append((*buf)[:0], *v)
	*buf = b
	return b, err
}

// decodeKey returns the K whose bytes b holds.
func (m *Map[K, V]) decodeKey(op string, b []byte) (k K, err error) {
	if m.kf != nil {
		if len(b) != m.kf.size {
			return k, m.t.errorf(op, "", 0, shm.ErrCorrupt, "a %d-byte key, the map's keys are %d bytes", len(b), m.kf.size)
		}
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&k)), m.kf.size), b)
		return k, nil
	}
	if k, err = m.kc.Decode(b); err != nil {
		err = fmt.Errorf("value: map %q: decoding a key: %w", m.t.name, err)
	}
	return k, err
}

// value returns the V whose bytes b holds.
func (m *Map[K, V]) value(op string, b []byte) (v V, err error) {
	if m.vf != nil {
		if len(b) != m.vf.size {
			return v, m.t.errorf(op, "", 0, shm.ErrCorrupt, "a %d-byte value, the map's values are %d bytes", len(b), m.vf.size)
		}
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&v)), m.vf.size), b)
		return v, nil
	}
	if v, err = m.vc.Decode(b); err != nil {
		err = fmt.Errorf("value: map %q: decoding a value: %w", m.t.name, err)
	}
	return v, err
}

package value

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/typelayout"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
)

// mapObject documents the bytes of a map object (shm.KindMap); the offMap*
// constants below are its field offsets, and a test keeps the two in
// agreement. The geometry line is written once by the creator; the state
// line only under the write lock. The table (buckets, links, chunks) follows
// at offMapTable, at offsets the geometry gives (mapGeometry.place).
type mapObject struct {
	Header    [typelayout.HeaderSize]byte // typelayout header: form, align, size, count = entries, fingerprint, check
	Lock      [lock.RWMutexSize]byte      // the map's reader/writer lock
	Bytes     uint64                      // geometry: most bytes of keys and values of the live entries
	MaxEntry  uint64                      // geometry: most bytes of key and value of one entry
	Buckets   uint32                      // geometry: buckets, a power of two
	Chunks    uint32                      // geometry: chunks, numbered 1..Chunks
	Seed      uint64                      // geometry: hash seed
	_         [24]byte                    // zero
	GeoCheck  uint64                      // FNV-1a 64 of the geometry line's first 56 bytes
	Dirty     uint32                      // state: 1 while a writer changes the table
	Count     uint32                      // state: live entries
	Used      uint64                      // state: bytes of the live entries' keys and values
	Free      uint32                      // state: first free chunk, 0 for none
	FreeCount uint32                      // state: chunks on the free list
	Repairs   uint64                      // state: repairs made after writers died
	_         [32]byte                    // zero
	Table     [4]byte                     // buckets, then links, then chunks
}

// Map object field offsets (see mapObject).
const (
	offMapLock      = 64
	offMapGeometry  = 640
	offMapBytes     = 640
	offMapMaxEntry  = 648
	offMapBuckets   = 656
	offMapChunks    = 660
	offMapSeed      = 664
	offMapGeoCheck  = 696
	offMapState     = 704
	offMapDirty     = 704
	offMapCount     = 708
	offMapUsed      = 712
	offMapFree      = 720
	offMapFreeCount = 724
	offMapRepairs   = 728
	offMapTable     = 768
)

// Chunks and entries. An entry is one chunk (its head) or a chain of them:
// the head starts with the entry header, then the entry's data (its key,
// then its value) fills the head and as many more chunks as it needs,
// linked through the link array.
const (
	mapChunk    = 64                    // bytes in a chunk
	mapEntHead  = 16                    // entry header at the start of a head chunk
	mapHeadData = mapChunk - mapEntHead // data bytes in a head chunk

	entNext = 0  // next entry in the bucket's chain: a chunk number, 0 at the end
	entTag  = 4  // high 32 bits of the key's hash
	entKLen = 8  // key length in bytes
	entVLen = 12 // value length in bytes
)

// Map forms, in the type header's form field. Their numbers are part of the
// layout and never change.
const (
	formBytesMap = 1 // byte strings (BytesMap, or Map with codecs)
	formTypedMap = 2 // Map[K, V] of fixed-size K and V: the header describes struct{Key K; Value V}
)

// Limits on a map's geometry: chunk numbers and lengths are 32-bit words.
const (
	maxMapEntries = 1 << 30
	maxMapChunks  = math.MaxUint32 - 1
	maxMapBytes   = math.MaxUint32
)

// mapGeometry is what a map's geometry line says, and where its table's
// parts lie in the object.
type mapGeometry struct {
	entries  uint64 // E: most live entries (the type header's count)
	bytes    uint64 // B: most bytes of keys and values of the live entries
	maxEntry uint64 // M: most bytes of key and value of one entry, ≤ B
	buckets  uint64 // NB: a power of two
	chunks   uint64 // N: chunks numbered 1..N
	seed     uint64

	bucketsOff, linksOff, chunksOff, size uint64 // from place
}

// chunksFor returns the chunks an entry of n bytes of key and value takes.
func chunksFor(n uint64) uint64 {
	if n <= mapHeadData {
		return 1
	}
	return 1 + (n-mapHeadData+mapChunk-1)/mapChunk
}

// requiredChunks returns how many chunks a map of e entries, b bytes and
// entries of at most m bytes needs, so that any set of entries within e and
// b fits, whatever was put and deleted before, with room for one more entry
// of m bytes: a Put that replaces an entry writes the new one before it
// frees the old.
//
// An entry of n bytes takes chunksFor(n) ≤ 1 + (n+15)/64 chunks (exactly
// so when n-48 is one more than a multiple of 64, rounding up otherwise),
// so live entries take at most (79·e + b)/64 chunks; and at most
// e·chunksFor(m), which is less for small entries.
func requiredChunks(e, b, m uint64) (uint64, bool) {
	if e > maxMapEntries || b > maxMapBytes || m > b {
		return 0, false
	}
	fm := chunksFor(m)
	live := min(e*fm, (79*e+b)/mapChunk) // no overflow: e < 2^30, fm ≤ 2^26, b < 2^32
	return live + fm, live+fm <= maxMapChunks
}

// newGeometry returns the geometry of a map of e entries, b bytes and
// entries of at most m bytes, with the given seed.
func newGeometry(e, b, m, seed uint64) (mapGeometry, bool) {
	n, ok := requiredChunks(e, b, m)
	if !ok || e == 0 {
		return mapGeometry{}, false
	}
	g := mapGeometry{entries: e, bytes: b, maxEntry: m, buckets: 1 << bits.Len64(e-1), chunks: n, seed: seed}
	return g, g.place()
}

// place computes the offsets of the buckets, the links and the chunks, and
// the object's size; it returns false if they overflow.
func (g *mapGeometry) place() bool {
	if g.buckets == 0 || g.buckets&(g.buckets-1) != 0 || g.buckets > 1<<31 || g.chunks == 0 || g.chunks > maxMapChunks {
		return false
	}
	g.bucketsOff = offMapTable
	links := g.bucketsOff + g.buckets*4
	g.linksOff, _ = layout.AlignUp(links, layout.CacheLine)
	chunks := g.linksOff + (g.chunks+1)*4
	g.chunksOff, _ = layout.AlignUp(chunks, layout.CacheLine)
	g.size = g.chunksOff + (g.chunks+1)*mapChunk // below 2^39: no overflow
	return g.size <= math.MaxInt
}

var mapNE = binary.NativeEndian

// putGeometry writes g's line into a new map object.
func putGeometry(mem []byte, g mapGeometry) {
	b := mem[offMapGeometry : offMapGeometry+layout.CacheLine]
	clear(b)
	mapNE.PutUint64(b[offMapBytes-offMapGeometry:], g.bytes)
	mapNE.PutUint64(b[offMapMaxEntry-offMapGeometry:], g.maxEntry)
	mapNE.PutUint32(b[offMapBuckets-offMapGeometry:], uint32(g.buckets))
	mapNE.PutUint32(b[offMapChunks-offMapGeometry:], uint32(g.chunks))
	mapNE.PutUint64(b[offMapSeed-offMapGeometry:], g.seed)
	mapNE.PutUint64(b[offMapGeoCheck-offMapGeometry:], typelayout.Hash(b[:offMapGeoCheck-offMapGeometry]))
}

// readGeometry decodes and validates the geometry of the map object mem
// whose type header h has passed its own checks but for the checksum:
// the bounds step of the header validation (typelayout.Check). The order is
// that of the fields, then the geometry's checksum.
func readGeometry(mem []byte, h typelayout.Header) (mapGeometry, *typelayout.Fault) {
	var g mapGeometry
	if len(mem) < offMapTable {
		return g, typelayout.Faultf("", -1, "object is %d bytes, shorter than a map's %d-byte header", len(mem), offMapTable)
	}
	b := mem[offMapGeometry : offMapGeometry+layout.CacheLine]
	g.entries = h.Count
	g.bytes = mapNE.Uint64(b[offMapBytes-offMapGeometry:])
	g.maxEntry = mapNE.Uint64(b[offMapMaxEntry-offMapGeometry:])
	g.buckets = uint64(mapNE.Uint32(b[offMapBuckets-offMapGeometry:]))
	g.chunks = uint64(mapNE.Uint32(b[offMapChunks-offMapGeometry:]))
	g.seed = mapNE.Uint64(b[offMapSeed-offMapGeometry:])
	switch {
	case g.entries == 0 || g.entries > maxMapEntries:
		return g, typelayout.Faultf("count", typelayout.OffCount, "%d entries, want 1 to %d", g.entries, maxMapEntries)
	case g.bytes > maxMapBytes:
		return g, typelayout.Faultf("bytes", offMapBytes, "%d bytes, at most %d", g.bytes, maxMapBytes)
	case g.maxEntry > g.bytes:
		return g, typelayout.Faultf("max_entry", offMapMaxEntry, "largest entry %d bytes, above the map's %d", g.maxEntry, g.bytes)
	case g.buckets == 0 || g.buckets&(g.buckets-1) != 0 || g.buckets > 1<<31:
		return g, typelayout.Faultf("buckets", offMapBuckets, "%d buckets, want a power of two", g.buckets)
	}
	if need, _ := requiredChunks(g.entries, g.bytes, g.maxEntry); g.chunks < need || g.chunks > maxMapChunks {
		return g, typelayout.Faultf("chunks", offMapChunks, "%d chunks, the geometry needs %d", g.chunks, need)
	}
	if !g.place() || g.size > uint64(len(mem)) {
		return g, typelayout.Faultf("chunks", offMapChunks, "%d buckets and %d chunks take %d bytes, the object has %d", g.buckets, g.chunks, g.size, len(mem))
	}
	if sum := typelayout.Hash(b[:offMapGeoCheck-offMapGeometry]); sum != mapNE.Uint64(b[offMapGeoCheck-offMapGeometry:]) {
		return g, typelayout.Faultf("geo_check", offMapGeoCheck, "geometry checksum %#016x, its bytes give %#016x", mapNE.Uint64(b[offMapGeoCheck-offMapGeometry:]), sum)
	}
	return g, nil
}

// initTable sets up a new map's state and table in mem (zeroed by Alloc):
// no entries, every chunk on the free list in order.
func initTable(mem []byte, g mapGeometry) {
	links := mem[g.linksOff:]
	for c := uint64(1); c < g.chunks; c++ {
		mapNE.PutUint32(links[c*4:], uint32(c+1))
	}
	mapNE.PutUint32(mem[offMapFree:], 1)
	mapNE.PutUint32(mem[offMapFreeCount:], uint32(g.chunks))
}

// MapOptions sets the capacity of a BytesMap, or of a Map whose keys or
// values go through a codec, when it is created. A Map of fixed-size keys
// and values takes only a number of entries (NewMap).
type MapOptions struct {
	// Entries is the most entries the map holds at once; it must be at
	// least 1 (and at most 2^30).
	Entries int

	// Bytes is the most bytes the keys and values of the live entries take
	// together (at most 2^32-1). Zero means 64 × Entries (or 2^32-1 if
	// that is less).
	Bytes int

	// MaxEntryBytes is the most bytes of key and value one entry may take.
	// Zero means Bytes. The map keeps room for one entry of this size beside
	// its live entries (a Put that replaces an entry writes the new one
	// before it frees the old), so a lower bound saves memory.
	MaxEntryBytes int
}

// geometry returns the geometry the options ask for.
func (o MapOptions) geometry(seed uint64) (mapGeometry, error) {
	b, m := o.Bytes, o.MaxEntryBytes
	if b == 0 && o.Entries > 0 && o.Entries <= maxMapEntries {
		b = min(64*o.Entries, maxMapBytes)
	}
	if m == 0 {
		m = b
	}
	switch {
	case o.Entries < 1 || o.Entries > maxMapEntries:
		return mapGeometry{}, fmt.Errorf("value: MapOptions.Entries %d, want 1 to %d", o.Entries, maxMapEntries)
	case b < 0 || uint64(b) > maxMapBytes:
		return mapGeometry{}, fmt.Errorf("value: MapOptions.Bytes %d, want 0 to %d", o.Bytes, uint64(maxMapBytes))
	case m < 0 || m > b:
		return mapGeometry{}, fmt.Errorf("value: MapOptions.MaxEntryBytes %d, want 0 to Bytes (%d)", o.MaxEntryBytes, b)
	}
	g, ok := newGeometry(uint64(o.Entries), uint64(b), uint64(m), seed)
	if !ok {
		return g, fmt.Errorf("%w: a map of %d entries and %d bytes is too large", shm.ErrNoSpace, o.Entries, b)
	}
	return g, nil
}

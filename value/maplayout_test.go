package value

import (
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/lock"
)

// TestMapLayoutOffsets keeps the map's offset constants in agreement with
// the struct that documents them, and its lines apart.
func TestMapLayoutOffsets(t *testing.T) {
	for _, c := range []struct {
		field string
		off   uintptr
	}{
		{"Lock", offMapLock}, {"Bytes", offMapBytes}, {"MaxEntry", offMapMaxEntry},
		{"Buckets", offMapBuckets}, {"Chunks", offMapChunks}, {"Seed", offMapSeed},
		{"GeoCheck", offMapGeoCheck}, {"Dirty", offMapDirty}, {"Count", offMapCount},
		{"Used", offMapUsed}, {"Free", offMapFree}, {"FreeCount", offMapFreeCount},
		{"Repairs", offMapRepairs}, {"Table", offMapTable},
	} {
		if got := layout.Offset(mapObject{}, c.field); got != c.off {
			t.Errorf("mapObject.%s at %d, constant says %d", c.field, got, c.off)
		}
	}
	if offMapGeometry != offMapLock+lock.RWMutexSize || offMapState != offMapGeometry+layout.CacheLine || offMapTable != offMapState+layout.CacheLine {
		t.Errorf("lock, geometry, state and table must follow each other, each from a cache line")
	}
	if offMapLock%layout.CacheLine != 0 || offMapGeometry%layout.CacheLine != 0 || offMapState%layout.CacheLine != 0 || offMapTable%layout.CacheLine != 0 {
		t.Error("the lock, the geometry, the state and the table must each start a cache line")
	}
	if s := unsafe.Sizeof(mapObject{}); s != offMapTable+8 { // the table's first word, padded to 8
		t.Errorf("mapObject is %d bytes, want %d", s, offMapTable+8)
	}
	if mapHeadData != 48 || entVLen+4 != mapEntHead {
		t.Errorf("entry header: %d bytes, %d of data in the head", mapEntHead, mapHeadData)
	}
}

// TestChunkBound checks the bound requiredChunks rests on: an entry of n
// bytes takes at most 1 + (n+15)/64 chunks, and exactly that for the
// sizes that waste the most.
func TestChunkBound(t *testing.T) {
	for n := uint64(0); n < 100_000; n++ {
		if 64*chunksFor(n) > 64+n+15 {
			t.Fatalf("chunksFor(%d) = %d, over the bound", n, chunksFor(n))
		}
		if (n > 48 && (n-49)%64 == 0) != (64*chunksFor(n) == 64+n+15) {
			t.Fatalf("chunksFor(%d) = %d: the bound is tight exactly at 49 + 64k", n, chunksFor(n))
		}
	}
}

// TestRequiredChunks checks requiredChunks against the worst case found by
// search: for small capacities, every multiset of entry sizes within the
// bounds, beside one entry of the largest size, fits.
func TestRequiredChunks(t *testing.T) {
	for e := uint64(1); e <= 6; e++ {
		for _, b := range []uint64{10, 48, 49, 100, 113, 200, 300} {
			for _, m := range []uint64{0, 1, 48, 49, 113, b / 2, b} {
				if m > b {
					continue
				}
				need, ok := requiredChunks(e, b, m)
				if !ok {
					t.Fatalf("requiredChunks(%d, %d, %d) overflows", e, b, m)
				}
				if worst := worstChunks(e, b, m, map[[2]uint64]uint64{}) + chunksFor(m); worst > need {
					t.Fatalf("requiredChunks(%d, %d, %d) = %d; %d entries within the bounds and one of %d bytes take %d", e, b, m, need, e, m, worst)
				}
			}
		}
	}
	if _, ok := requiredChunks(maxMapEntries, maxMapBytes, maxMapBytes); !ok {
		t.Error("the largest geometry does not fit in 32-bit chunk numbers")
	}
	if _, ok := requiredChunks(maxMapEntries+1, 0, 0); ok {
		t.Error("too many entries accepted")
	}
}

// worstChunks returns the most chunks e entries of at most m bytes each
// and b in all can take, by exhaustive search (memo holds the results for
// (e, b) of this m).
func worstChunks(e, b, m uint64, memo map[[2]uint64]uint64) uint64 {
	if e == 0 {
		return 0
	}
	if w, ok := memo[[2]uint64{e, b}]; ok {
		return w
	}
	best := worstChunks(e-1, b, m, memo) // fewer entries
	for n := uint64(0); n <= min(m, b); n++ {
		best = max(best, chunksFor(n)+worstChunks(e-1, b-n, m, memo))
	}
	memo[[2]uint64{e, b}] = best
	return best
}

func TestMapGeometry(t *testing.T) {
	g, ok := newGeometry(100, 6400, 6400, 1)
	if !ok || g.buckets != 128 || g.bucketsOff != offMapTable || g.linksOff%64 != 0 || g.chunksOff%64 != 0 {
		t.Fatalf("geometry %+v", g)
	}
	if g.linksOff < g.bucketsOff+128*4 || g.chunksOff < g.linksOff+(g.chunks+1)*4 || g.size != g.chunksOff+(g.chunks+1)*64 {
		t.Fatalf("regions overlap: %+v", g)
	}
	if g, ok := newGeometry(1, 0, 0, 1); !ok || g.buckets != 1 || g.chunks != 2 {
		t.Fatalf("one empty entry: %+v, %v", g, ok)
	}
	for _, c := range []struct{ e, b, m uint64 }{{0, 10, 10}, {1, 10, 11}, {1, 1 << 32, 1}, {1 << 31, 0, 0}} {
		if g, ok := newGeometry(c.e, c.b, c.m, 1); ok {
			t.Errorf("newGeometry(%d, %d, %d) = %+v", c.e, c.b, c.m, g)
		}
	}
}

// TestHashKey: the hash is the documented function (a change would make
// processes of two builds disagree), and spreads sequential keys.
func TestHashKey(t *testing.T) {
	mul := func(n, k uint64) uint64 { return n * k } // wraps, as the hash does
	for _, c := range []struct {
		seed uint64
		key  string
		want uint64
	}{
		{0, "", 0},
		{1, "", fold(1, hashFin)},
		{0, "a", fold(fold(hashLen^0x61, hashMul), hashFin)},
		{7, "abcdefgh", fold(fold(7^mul(8, hashLen)^0x6867666564636261, hashMul), hashFin)},
		{7, "abcdefghi", fold(fold(fold(7^mul(9, hashLen)^0x6867666564636261, hashMul)^0x69, hashMul), hashFin)},
	} {
		if got := hashKey(c.seed, []byte(c.key)); got != c.want {
			t.Errorf("hashKey(%d, %q) = %#x, want %#x", c.seed, c.key, got, c.want)
		}
	}
	const n, buckets = 1 << 16, 1 << 12
	var counts [buckets]int
	var key [8]byte
	for i := range uint64(n) {
		for j := range key {
			key[j] = byte(i >> (8 * j))
		}
		counts[hashKey(12345, key[:])%buckets]++
	}
	for b, c := range counts {
		if c > 40 { // mean 16
			t.Fatalf("bucket %d holds %d of %d sequential keys", b, c, n)
		}
	}
}

//go:build linux

package value_test

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/internal/typelayout"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/value"
)

// TestMapCorruptHeader changes one field of a map's type header or
// geometry per row and checks that opening it reports ErrCorrupt in a
// *shm.Error naming the object, the field and its offset.
func TestMapCorruptHeader(t *testing.T) {
	u32 := func(off int, v uint32) func([]byte) { return func(b []byte) { ne.PutUint32(b[off:], v) } }
	u64 := func(off int, v uint64) func([]byte) { return func(b []byte) { ne.PutUint64(b[off:], v) } }
	flip := func(off int) func([]byte) { return func(b []byte) { b[off] ^= 0x40 } }
	for _, c := range []struct {
		name   string
		mutate func([]byte)
		field  string
		off    int64
		detail string
	}{
		{"form", u32(typelayout.OffForm, 77), "form", typelayout.OffForm, "form 77"},
		{"align", u32(typelayout.OffAlign, 3), "align", typelayout.OffAlign, "alignment 3"},
		{"size of a bytes map", u64(typelayout.OffSize, 8), "size", typelayout.OffSize, "records size 8"},
		{"no entries", u64(typelayout.OffCount, 0), "count", typelayout.OffCount, "0 entries"},
		{"too many entries", u64(typelayout.OffCount, 1<<40), "count", typelayout.OffCount, "entries"},
		{"header checksum", flip(typelayout.OffCheck), "check", typelayout.OffCheck, "header checksum"},
		{"entries, checksum not updated", u64(typelayout.OffCount, 11), "check", typelayout.OffCheck, "header checksum"},
		{"bytes", u64(value.OffMapBytes, 1<<33), "bytes", value.OffMapBytes, "at most"},
		{"largest entry", u64(value.OffMapMaxEntry, 5000), "max_entry", value.OffMapMaxEntry, "above the map's 1000"},
		{"buckets not a power of two", u32(value.OffMapBuckets, 12), "buckets", value.OffMapBuckets, "12 buckets"},
		{"no buckets", u32(value.OffMapBuckets, 0), "buckets", value.OffMapBuckets, "0 buckets"},
		{"buckets beyond the object", u32(value.OffMapBuckets, 1<<31), "chunks", value.OffMapChunks, "the object has"},
		{"too few chunks", u32(value.OffMapChunks, 3), "chunks", value.OffMapChunks, "3 chunks"},
		{"chunks beyond the object", u32(value.OffMapChunks, math.MaxUint32-1), "chunks", value.OffMapChunks, "the object has"},
		{"seed", flip(value.OffMapGeoCheck - 32), "geo_check", value.OffMapGeoCheck, "geometry checksum"},
		{"geometry checksum", flip(value.OffMapGeoCheck), "geo_check", value.OffMapGeoCheck, "geometry checksum"},
		{"reserved", flip(value.OffMapGeoCheck - 8), "geo_check", value.OffMapGeoCheck, "geometry checksum"},
	} {
		t.Run(c.name, func(t *testing.T) {
			seg := testutil.Segment(t, 1<<20)
			m, err := value.NewBytesMap(seg, "m", value.MapOptions{Entries: 10, Bytes: 1000})
			if err != nil {
				t.Fatal(err)
			}
			put(t, m, "k", "v")
			mem, objOff := objectAt(t, seg, "m", shm.KindMap)
			c.mutate(mem)
			_, err = value.OpenBytesMap(seg, "m")
			var se *shm.Error
			if !errors.Is(err, shm.ErrCorrupt) || !errors.As(err, &se) {
				t.Fatalf("OpenBytesMap = %v, want ErrCorrupt in a *shm.Error", err)
			}
			if se.Object != "m" || se.Field != c.field || se.Offset != objOff+c.off || !strings.Contains(err.Error(), c.detail) {
				t.Fatalf("OpenBytesMap = %v (field %q, offset %d); want field %q at %d, saying %q", err, se.Field, se.Offset, c.field, objOff+c.off, c.detail)
			}
			// The handle opened before keeps its geometry.
			if v, ok := get(t, m, "k"); !ok || v != "v" {
				t.Fatalf("Get = %q, %v", v, ok)
			}
		})
	}
}

// table addresses the parts of a map's table in its memory, for tests that
// damage them.
type table struct {
	mem  []byte
	info value.MapInfo
	m    any
}

func (tb table) bucketOff(key string) int {
	h := value.HashKey(tb.m, []byte(key))
	return tb.info.BucketsOff + int(h&uint64(tb.info.Buckets-1))*4
}
func (tb table) headOf(key string) int {
	// The key must be first in its chain.
	return tb.info.ChunksOff + int(ne.Uint32(tb.mem[tb.bucketOff(key):]))*value.MapChunk
}
func (tb table) linkOff(c int) int { return tb.info.LinksOff + c*4 }

// sameBucket returns a key other than those given that hashes to key's
// bucket.
func (tb table) sameBucket(key string, not ...string) string {
	h := value.HashKey(tb.m, []byte(key))
	for i := 0; ; i++ {
		k := "c" + strconv.Itoa(i)
		if hk := value.HashKey(tb.m, []byte(k)); hk&uint64(tb.info.Buckets-1) == h&uint64(tb.info.Buckets-1) && !contains(not, k) {
			return k
		}
	}
}

func contains(s []string, x string) bool {
	for _, y := range s {
		if x == y {
			return true
		}
	}
	return false
}

// TestMapCorruptTable damages one word of a map's table per row, as a buggy
// or hostile peer could, and checks that the operation that reads it
// returns ErrCorrupt naming the field, without a panic or a hang; and,
// where the damage is one a repair undoes (the free list and the counts),
// that the next operation repairs it.
func TestMapCorruptTable(t *testing.T) {
	const long = 300 // a value over several chunks
	for _, c := range []struct {
		name   string
		damage func(e *env) int // returns the damaged word's offset in the object
		op     func(e *env) error
		field  string
		heals  bool // the next operation repairs
	}{
		{"bucket", func(e *env) int {
			off := e.tb.bucketOff("a")
			ne.PutUint32(e.tb.mem[off:], uint32(e.tb.info.Chunks+1))
			return off
		}, getOp("a"), "bucket", false},
		{"next out of range", func(e *env) int {
			off := e.tb.headOf("a")
			ne.PutUint32(e.tb.mem[off:], 1<<30)
			return off
		}, getOp("b"), "entry.next", false},
		{"chain loops", func(e *env) int {
			off := e.tb.headOf("a")
			ne.PutUint32(e.tb.mem[off:], ne.Uint32(e.tb.mem[e.tb.bucketOff("a"):])) // a's next is a
			return off
		}, getOp("c"), "entry.next", false},
		{"entry length", func(e *env) int {
			off := e.tb.headOf("a") + 12
			ne.PutUint32(e.tb.mem[off:], 1<<31)
			return off
		}, getOp("a"), "entry.vlen", false},
		{"link out of range", func(e *env) int {
			c := ne.Uint32(e.tb.mem[e.tb.bucketOff("long"):])
			off := e.tb.linkOff(int(c))
			ne.PutUint32(e.tb.mem[off:], uint32(e.tb.info.Chunks+7))
			return off
		}, getOp("long"), "link", false},
		{"chain cut short", func(e *env) int {
			c := ne.Uint32(e.tb.mem[e.tb.bucketOff("long"):])
			c = ne.Uint32(e.tb.mem[e.tb.linkOff(int(c)):])
			off := e.tb.linkOff(int(c))
			ne.PutUint32(e.tb.mem[off:], 0)
			return off
		}, getOp("long"), "link", false},
		{"free list head", func(e *env) int {
			ne.PutUint32(e.tb.mem[value.OffMapFree:], 0)
			return value.OffMapFree
		}, putOp("new"), "free", true},
		{"free list link", func(e *env) int {
			c := ne.Uint32(e.tb.mem[value.OffMapFree:])
			off := e.tb.linkOff(int(c))
			ne.PutUint32(e.tb.mem[off:], 1<<31)
			return off
		}, putOp("new"), "link", true},
		{"free count", func(e *env) int {
			ne.PutUint32(e.tb.mem[value.OffMapFreeCount:], 1)
			return value.OffMapFreeCount
		}, putOp("new"), "free_count", true},
		{"count", func(e *env) int {
			ne.PutUint32(e.tb.mem[value.OffMapCount:], 1000)
			return value.OffMapCount
		}, putOp("new"), "count", true},
		{"used", func(e *env) int {
			ne.PutUint64(e.tb.mem[value.OffMapUsed:], 1<<40)
			return value.OffMapUsed
		}, putOp("new"), "used", true},
		{"count at delete", func(e *env) int {
			ne.PutUint32(e.tb.mem[value.OffMapCount:], 0)
			return value.OffMapCount
		}, func(e *env) error { _, err := e.m.Delete([]byte("a")); return err }, "count", true},
		{"entry linked twice", func(e *env) int {
			// b, last in a's chain, links a again; the repair that a
			// Dirty mark makes the next reader run finds it.
			a := ne.Uint32(e.tb.mem[e.tb.bucketOff("a"):])
			off := e.tb.info.ChunksOff + int(ne.Uint32(e.tb.mem[e.tb.headOf("a"):]))*value.MapChunk
			ne.PutUint32(e.tb.mem[off:], a)
			ne.PutUint32(e.tb.mem[value.OffMapDirty:], 1)
			return off
		}, getOp("long"), "entry.next", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			seg := testutil.Segment(t, 1<<20)
			m, err := value.NewBytesMap(seg, "m", value.MapOptions{Entries: 16, Bytes: 2000, MaxEntryBytes: 500})
			if err != nil {
				t.Fatal(err)
			}
			mem, objOff := objectAt(t, seg, "m", shm.KindMap)
			e := &env{m: m, tb: table{mem: mem, info: value.InfoOf(m), m: m}}
			put(t, m, "a", "1")
			e.b = e.tb.sameBucket("a")
			e.c = e.tb.sameBucket("a", e.b)
			put(t, m, e.b, "2") // after a in its chain
			put(t, m, "long", pattern(1, long))
			if e.tb.bucketOff("long") == e.tb.bucketOff("a") {
				t.Skip("long shares a's bucket under this seed")
			}
			off := c.damage(e)
			err = c.op(e)
			var se *shm.Error
			if !errors.Is(err, shm.ErrCorrupt) || !errors.As(err, &se) || se.Object != "m" || se.Field != c.field || se.Offset != objOff+int64(off) {
				t.Fatalf("after damage at %d: %v; want ErrCorrupt, field %q at %d", off, err, c.field, objOff+int64(off))
			}
			if c.heals {
				if err := c.op(e); err != nil {
					t.Fatalf("the operation after a repairable damage: %v", err)
				}
				if n := value.InfoOf(m).Repairs; n != 1 {
					t.Fatalf("%d repairs, want 1", n)
				}
				verify(t, m)
				if v, ok := get(t, m, "long"); !ok || v != pattern(1, long) {
					t.Fatalf("long = %d bytes, %v after the repair", len(v), ok)
				}
				return
			}
			// Clear makes a damaged map usable again.
			if err := m.Clear(); err != nil {
				t.Fatal(err)
			}
			verify(t, m)
			put(t, m, "a", "again")
			if v, _ := get(t, m, "a"); v != "again" {
				t.Fatalf("after Clear: %q", v)
			}
		})
	}
}

// env is what a row of TestMapCorruptTable damages.
type env struct {
	m    *value.BytesMap
	tb   table
	b, c string // keys in a's bucket, after it
}

func getOp(key string) func(e *env) error {
	return func(e *env) error {
		k := key
		switch key {
		case "b":
			k = e.b
		case "c":
			k = e.c
		}
		_, _, err := e.m.Get([]byte(k), nil)
		return err
	}
}

func putOp(key string) func(e *env) error {
	return func(e *env) error { return e.m.Put([]byte(key), []byte("value")) }
}

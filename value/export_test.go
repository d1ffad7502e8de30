package value

import (
	"fmt"
	"sync/atomic"
)

// Offsets for the corruption and crash tests of the external tests.
const (
	OffLock = offLock
	OffSeq  = offSeq
	OffData = offData
)

// Forms of value objects, for the fuzz test's expectations.
const (
	FormValue  = formValue
	FormInt64  = formInt64
	FormUint64 = formUint64
)

// SetWriteHook sets the function called in the middle of each seqlock slot
// write, with the write step (1 or 2); nil removes it.
func SetWriteHook(f func(step int)) { testHookWrite = f }

// SetReadHook sets the function called between the copy and the second
// sequence load of every seqlock read attempt; nil removes it.
func SetReadHook(f func()) { testHookRead = f }

// SeqTries is the bound on lock-free read attempts.
const SeqTries = seqTries

// Seq returns the value's sequence.
func Seq[T any](v *Value[T]) uint64 { return atomic.LoadUint64(v.seq) }

// Fallbacks returns how many of this handle's reads fell back to the lock.
func Fallbacks[T any](v *Value[T]) uint64 { return v.fallbacks.Load() }

// LoadLocked reads the value under its lock: the alternative to the
// seqlock that the benchmarks compare it with.
func LoadLocked[T any](v *Value[T]) (x T) {
	v.mu.Lock()
	v.loadHeld(bytesOf(&x, v.size))
	v.mu.Unlock()
	return x
}

// Map hook points (see maptable.go).
const (
	MapHookWritten   = mapHookWritten
	MapHookLinked    = mapHookLinked
	MapHookFreeing   = mapHookFreeing
	MapHookFreed     = mapHookFreed
	MapHookClearing  = mapHookClearing
	MapHookRepairing = mapHookRepairing
)

// SetMapHook sets the function called at the map's hook points; nil
// removes it.
func SetMapHook(f func(point int)) { testHookMap = f }

// Map object offsets, for the corruption tests.
const (
	OffMapBytes     = offMapBytes
	OffMapMaxEntry  = offMapMaxEntry
	OffMapBuckets   = offMapBuckets
	OffMapChunks    = offMapChunks
	OffMapGeoCheck  = offMapGeoCheck
	OffMapDirty     = offMapDirty
	OffMapCount     = offMapCount
	OffMapUsed      = offMapUsed
	OffMapFree      = offMapFree
	OffMapFreeCount = offMapFreeCount
	OffMapTable     = offMapTable
	MapChunk        = mapChunk
	MapEntHead      = mapEntHead
)

// MapInfo is what the tests learn of a map's table.
type MapInfo struct {
	Buckets, Chunks       int // geometry
	BucketsOff, LinksOff  int
	ChunksOff             int
	Free, Repairs         int // free chunks, repairs made
	Entries, Bytes, Limit int // capacity: entries, bytes, largest entry
}

// InfoOf returns what the tests learn of m's table; m is a *BytesMap or a
// *Map.
func InfoOf(m any) MapInfo {
	t := tableOf(m)
	return MapInfo{
		Buckets: int(t.g.buckets), Chunks: int(t.g.chunks),
		BucketsOff: int(t.g.bucketsOff), LinksOff: int(t.g.linksOff), ChunksOff: int(t.g.chunksOff),
		Free: int(t.u32(offMapFreeCount)), Repairs: int(atomic.LoadUint64(t.repairs)),
		Entries: int(t.g.entries), Bytes: int(t.g.bytes), Limit: int(t.g.maxEntry),
	}
}

func tableOf(m any) *table {
	switch m := m.(type) {
	case *BytesMap:
		return m.t
	case interface{ table() *table }:
		return m.table()
	}
	panic("not a map")
}

func (m *Map[K, V]) table() *table { return m.t }

// HashKey is the map's hash of key under the seed of m.
func HashKey(m any, key []byte) uint64 { return hashKey(tableOf(m).g.seed, key) }

// ChunksFor is the number of chunks an entry of n bytes of key and value
// takes.
func ChunksFor(n int) int { return int(chunksFor(uint64(n))) }

// Verify checks every invariant of m's table, taking its write lock
// (without repairing): Dirty clear; every chain made of valid entries;
// Count and Used what the chains hold; the free list exactly the chunks
// that no entry holds, FreeCount long. It is the oracle of the crash,
// churn and fuzz tests.
func Verify(m any) error {
	t := tableOf(m)
	t.rw.Lock()
	defer t.rw.Unlock()
	if d := atomic.LoadUint32(t.dirty); d != 0 {
		return fmt.Errorf("dirty = %d", d)
	}
	owner := make([]int, t.g.chunks+1) // 0 free, 1 entry, 2 free list
	var count, used uint64
	for b := uint64(0); b < t.g.buckets; b++ {
		c := t.u32(t.g.bucketsOff + b*4)
		for steps := 0; c != 0; steps++ {
			if uint64(c) > t.g.chunks || steps > int(t.g.entries) {
				return fmt.Errorf("bucket %d: bad chain at chunk %d", b, c)
			}
			head := t.head(c)
			klen, vlen := uint64(t.u32(head+entKLen)), uint64(t.u32(head+entVLen))
			if klen+vlen > t.g.maxEntry {
				return fmt.Errorf("entry %d: %d bytes", c, klen+vlen)
			}
			var key []byte
			p := probe{ref: c, vlen: klen + vlen}
			data, err := t.appendValue("verify", &p, nil)
			if err != nil {
				return err
			}
			key = data[:klen]
			h := hashKey(t.g.seed, key)
			if h&(t.g.buckets-1) != b || uint32(h>>32) != t.u32(head+entTag) {
				return fmt.Errorf("entry %d (key %q) in bucket %d has hash %#x, tag %#x", c, key, b, h, t.u32(head+entTag))
			}
			d := c
			for i := uint64(0); i < chunksFor(klen+vlen); i++ {
				if i > 0 {
					d = t.u32(t.linkAt(d))
				}
				if d == 0 || uint64(d) > t.g.chunks || owner[d] != 0 {
					return fmt.Errorf("entry %d: chunk %d out of range or shared", c, d)
				}
				owner[d] = 1
			}
			if t.u32(t.linkAt(d)) != 0 {
				return fmt.Errorf("entry %d: its last chunk %d links on", c, d)
			}
			count++
			used += klen + vlen
			c = t.u32(head + entNext)
		}
	}
	if got := uint64(atomic.LoadUint32(t.count)); got != count {
		return fmt.Errorf("count %d, the chains hold %d entries", got, count)
	}
	if got := atomic.LoadUint64(t.used); got != used {
		return fmt.Errorf("used %d, the chains hold %d bytes", got, used)
	}
	fc := uint64(t.u32(offMapFreeCount))
	c := t.u32(offMapFree)
	for i := uint64(0); i < fc; i++ {
		if c == 0 || uint64(c) > t.g.chunks || owner[c] != 0 {
			return fmt.Errorf("free list: chunk %d (%d of %d) out of range or held", c, i, fc)
		}
		owner[c] = 2
		c = t.u32(t.linkAt(c))
	}
	if c != 0 {
		return fmt.Errorf("free list longer than free_count %d", fc)
	}
	for i := uint64(1); i <= t.g.chunks; i++ {
		if owner[i] == 0 {
			return fmt.Errorf("chunk %d is leaked: neither free nor held", i)
		}
	}
	return nil
}

// SetMapReadHook sets the function Get calls holding the read lock; nil
// removes it.
func SetMapReadHook(f func()) { testHookMapRead = f }

// Repair runs a repair of m's table under its write lock, as the first
// locker after a writer's death does.
func Repair(m any) error {
	t := tableOf(m)
	t.rw.Lock()
	defer t.rw.Unlock()
	return t.repair("repair")
}

//go:build linux

package value_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
	"github.com/shmkit/shmkit/value"
)

// mapSize is testutil.Size, and a tenth of that under the race detector.
func mapSize(n, div int) int {
	n = testutil.Size(n, div)
	if raceEnabled {
		n = max(n/10, 1)
	}
	return n
}

func verify(tb testing.TB, m any) {
	tb.Helper()
	if err := value.Verify(m); err != nil {
		tb.Fatalf("map invariants: %v", err)
	}
}

// get is BytesMap.Get that fails the test on an error.
func get(tb testing.TB, m *value.BytesMap, key string) (string, bool) {
	tb.Helper()
	v, ok, err := m.Get([]byte(key), nil)
	if err != nil {
		tb.Fatalf("Get(%q): %v", key, err)
	}
	return string(v), ok
}

func put(tb testing.TB, m *value.BytesMap, key, val string) {
	tb.Helper()
	if err := m.Put([]byte(key), []byte(val)); err != nil {
		tb.Fatalf("Put(%q, %d bytes): %v", key, len(val), err)
	}
}

// pattern returns n bytes that depend on seed.
func pattern(seed, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*31 + i*7 + i>>8)
	}
	return string(b)
}

func TestMapBasics(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	m, err := value.NewBytesMap(seg, "m", value.MapOptions{Entries: 10, Bytes: 4000, MaxEntryBytes: 1500})
	if err != nil {
		t.Fatal(err)
	}
	if m.Len() != 0 || m.Cap() != 10 {
		t.Fatalf("Len %d, Cap %d", m.Len(), m.Cap())
	}
	if _, ok := get(t, m, "absent"); ok {
		t.Fatal("absent key found")
	}
	put(t, m, "a", "1")
	put(t, m, "", "empty key")
	put(t, m, "empty value", "")
	long := pattern(1, 1400)                     // 23 chunks
	longKey := strings.Repeat("k", 100)          // a key over two chunks
	put(t, m, longKey, pattern(2, 37))           // key spans the head and the next chunk
	put(t, m, "long", long)                      //
	put(t, m, "a", "2")                          // replace, same size
	put(t, m, "long", long[:700]+"x"+long[701:]) // replace, multi-chunk
	want := map[string]string{"a": "2", "": "empty key", "empty value": "", longKey: pattern(2, 37), "long": long[:700] + "x" + long[701:]}
	check := func() {
		t.Helper()
		if m.Len() != len(want) {
			t.Fatalf("Len %d, want %d", m.Len(), len(want))
		}
		for k, v := range want {
			if got, ok := get(t, m, k); !ok || got != v {
				t.Fatalf("Get(%.10q) = %d bytes, %v; want %d bytes", k, len(got), ok, len(v))
			}
		}
		snap, err := m.Snapshot()
		if err != nil || len(snap) != len(want) {
			t.Fatalf("Snapshot: %d entries, %v", len(snap), err)
		}
		for k, v := range want {
			if string(snap[k]) != v {
				t.Fatalf("Snapshot[%.10q] = %d bytes, want %d", k, len(snap[k]), len(v))
			}
		}
		verify(t, m)
	}
	check()

	// Get appends to dst[:0], with no allocation when dst has room.
	buf := make([]byte, 3, 2000)
	if v, ok, err := m.Get([]byte("long"), buf); !ok || err != nil || &v[0] != &buf[:1][0] || string(v) != want["long"] {
		t.Fatalf("Get into a buffer = %d bytes, %v, %v (same array: %v)", len(v), ok, err, &v[0] == &buf[:1][0])
	}
	if n := testing.AllocsPerRun(100, func() { m.Get([]byte("long"), buf) }); n != 0 {
		t.Fatalf("Get into a large enough buffer allocates %v times", n)
	}

	// Delete.
	if ok, err := m.Delete([]byte("a")); !ok || err != nil {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	if ok, err := m.Delete([]byte("a")); ok || err != nil {
		t.Fatalf("second Delete = %v, %v", ok, err)
	}
	delete(want, "a")
	check()

	// Update: absent, present, not storing, panicking.
	upd := func(key string, fn func(old []byte, ok bool) ([]byte, bool)) {
		t.Helper()
		if err := m.Update([]byte(key), fn); err != nil {
			t.Fatalf("Update(%q): %v", key, err)
		}
	}
	upd("n", func(old []byte, ok bool) ([]byte, bool) {
		if ok || old != nil {
			t.Fatalf("Update of an absent key: %q, %v", old, ok)
		}
		return []byte("1"), true
	})
	upd("n", func(old []byte, ok bool) ([]byte, bool) {
		if !ok || string(old) != "1" {
			t.Fatalf("Update of n: %q, %v", old, ok)
		}
		return append(old, '1'), true
	})
	upd("n", func(old []byte, ok bool) ([]byte, bool) { return []byte("never"), false })
	want["n"] = "11"
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v", r)
			}
		}()
		m.Update([]byte("n"), func([]byte, bool) ([]byte, bool) { panic("boom") })
	}()
	check() // unchanged, and the lock was released (check locks)

	// Clear.
	if err := m.Clear(); err != nil {
		t.Fatal(err)
	}
	want = map[string]string{}
	check()
	if InfoFree := value.InfoOf(m).Free; InfoFree != value.InfoOf(m).Chunks {
		t.Fatalf("%d chunks free of %d after Clear", InfoFree, value.InfoOf(m).Chunks)
	}
}

// TestMapNoSpace: each bound refuses a Put, leaving the map unchanged.
func TestMapNoSpace(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	m, err := value.NewBytesMap(seg, "m", value.MapOptions{Entries: 3, Bytes: 100, MaxEntryBytes: 60})
	if err != nil {
		t.Fatal(err)
	}
	noSpace := func(key, val, why string) {
		t.Helper()
		before, _ := m.Snapshot()
		err := m.Put([]byte(key), []byte(val))
		var se *shm.Error
		if !errors.Is(err, shm.ErrNoSpace) || !errors.As(err, &se) || se.Object != "m" || !strings.Contains(err.Error(), why) {
			t.Fatalf("Put(%q, %d bytes) = %v, want ErrNoSpace saying %q", key, len(val), err, why)
		}
		after, _ := m.Snapshot()
		if fmt.Sprint(before) != fmt.Sprint(after) {
			t.Fatalf("a refused Put changed the map: %v → %v", before, after)
		}
		verify(t, m)
	}
	noSpace("k", strings.Repeat("v", 60), "at most 60")
	put(t, m, "a", strings.Repeat("v", 59)) // 60 bytes
	put(t, m, "b", strings.Repeat("v", 29)) // 90
	noSpace("c", strings.Repeat("v", 10), "90 of the map's 100")
	put(t, m, "c", strings.Repeat("v", 9)) // 100
	noSpace("d", "", "holds 3 entries")
	noSpace("a", strings.Repeat("v", 60), "at most 60")
	noSpace("b", strings.Repeat("v", 30), "100 of the map's 100")
	put(t, m, "a", "") // 41 bytes
	noSpace("d", "", "holds 3 entries")
	if ok, err := m.Delete([]byte("b")); !ok || err != nil {
		t.Fatal(ok, err)
	}
	put(t, m, "d", strings.Repeat("v", 59)) // 71 bytes: the space b held is reused
	verify(t, m)
}

// TestMapCapacity: any set of entries within Entries and Bytes fits,
// whatever was put and deleted before. Random keys and sizes (the sizes
// that waste the most of a chunk among them) are put, replaced and deleted;
// a Put is refused exactly when the result would exceed a bound.
func TestMapCapacity(t *testing.T) {
	for _, opt := range []value.MapOptions{
		{Entries: 40, Bytes: 40 * 49, MaxEntryBytes: 49 * 3},
		{Entries: 40, Bytes: 4000},
		{Entries: 7, Bytes: 7 * 113},
		{Entries: 1, Bytes: 10},
	} {
		t.Run(fmt.Sprintf("%d/%d/%d", opt.Entries, opt.Bytes, opt.MaxEntryBytes), func(t *testing.T) {
			seg := testutil.Segment(t, 1<<20)
			m, err := value.NewBytesMap(seg, "m", opt)
			if err != nil {
				t.Fatal(err)
			}
			limit := value.InfoOf(m).Limit
			sizes := []int{0, 1, 47, 48, 49, 112, 113, 177, limit - 1, limit}
			model := map[string]int{} // key → entry size
			used := 0
			r := rand.New(rand.NewPCG(1, uint64(opt.Entries)))
			for i := range mapSize(20_000, 10) {
				key := strconv.Itoa(r.IntN(2 * opt.Entries))
				if r.IntN(4) == 0 {
					ok, err := m.Delete([]byte(key))
					_, had := model[key]
					if err != nil || ok != had {
						t.Fatalf("op %d: Delete(%s) = %v, %v; model has it: %v", i, key, ok, err, had)
					}
					used -= model[key]
					delete(model, key)
					continue
				}
				n := sizes[r.IntN(len(sizes))]
				if n < len(key) {
					n = len(key)
				}
				old, had := model[key]
				fits := n <= limit && used-old+n <= opt.Bytes && (had || len(model) < opt.Entries)
				err := m.Put([]byte(key), []byte(pattern(i, n-len(key))))
				switch {
				case fits && err != nil:
					t.Fatalf("op %d: Put of %d bytes with %d entries, %d bytes live: %v", i, n, len(model), used, err)
				case !fits && !errors.Is(err, shm.ErrNoSpace):
					t.Fatalf("op %d: Put of %d bytes with %d entries, %d bytes live = %v, want ErrNoSpace", i, n, len(model), used, err)
				case fits:
					used += n - old
					model[key] = n
				}
			}
			verify(t, m)
			if m.Len() != len(model) {
				t.Fatalf("Len %d, model %d", m.Len(), len(model))
			}
		})
	}
}

// padded is a fixed-size value type with padding.
type padded struct {
	X int8
	Y int64
	Z [3]float32
	_ int32
}

// TestMapTyped: NewMap's fixed-size keys and values, and NewMapWith's
// codecs.
func TestMapTyped(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	m, err := value.NewMap[padded, padded](seg, "fixed", 100)
	if err != nil {
		t.Fatal(err)
	}
	k := padded{X: 1, Y: 2, Z: [3]float32{3, 4, 5}}
	if err := m.Put(k, padded{X: 9}); err != nil {
		t.Fatal(err)
	}
	// The same key with other bytes in its padding and blank field: found.
	k2 := k
	b := unsafe.Slice((*byte)(unsafe.Pointer(&k2)), unsafe.Sizeof(k2))
	for i := 1; i < 8; i++ {
		b[i] = 0xee // padding after X
	}
	b[len(b)-1] = 0xee // the blank field
	if v, ok, err := m.Get(k2); !ok || err != nil || v.X != 9 {
		t.Fatalf("Get with other padding = %+v, %v, %v", v, ok, err)
	}
	if err := m.Update(k2, func(v padded, ok bool) (padded, bool) { v.X++; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := m.Get(k); v.X != 10 || m.Len() != 1 {
		t.Fatalf("after Update: %+v, Len %d", v, m.Len())
	}
	if ok, err := m.Delete(k2); !ok || err != nil {
		t.Fatalf("Delete = %v, %v", ok, err)
	}

	// Fixed keys and values without padding: Get and Put do not allocate.
	c, err := value.NewMap[int64, [4]float64](seg, "counts", 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i := range int64(1000) {
		if err := c.Put(i, [4]float64{float64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Put(1000, [4]float64{}); !errors.Is(err, shm.ErrNoSpace) {
		t.Fatalf("Put into a full map = %v", err)
	}
	if err := c.Put(999, [4]float64{1}); err != nil {
		t.Fatalf("replacing in a full map: %v", err)
	}
	if n := testing.AllocsPerRun(100, func() { c.Get(5) }); n != 0 {
		t.Fatalf("Get allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { c.Put(5, [4]float64{5}) }); n != 0 {
		t.Fatalf("Put allocates %v times", n)
	}
	if v, ok, err := c.Get(500); !ok || err != nil || v[0] != 500 {
		t.Fatalf("Get(500) = %v, %v, %v", v, ok, err)
	}
	if v, ok, err := c.Get(-1); ok || err != nil || v != ([4]float64{}) {
		t.Fatalf("Get(-1) = %v, %v, %v", v, ok, err)
	}
	seen := 0
	if err := c.Range(func(k int64, v [4]float64) bool {
		if k != 999 && v[0] != float64(k) || k == 999 && v[0] != 1 {
			t.Fatalf("Range: %d → %v", k, v)
		}
		seen++
		return true
	}); err != nil || seen != 1000 {
		t.Fatalf("Range saw %d entries, %v", seen, err)
	}
	snap, err := c.Snapshot()
	if err != nil || len(snap) != 1000 || snap[7][0] != 7 {
		t.Fatalf("Snapshot: %d entries, %v", len(snap), err)
	}
	c2, err := value.OpenMap[int64, [4]float64](seg, "counts")
	if err != nil {
		t.Fatal(err)
	}
	if v, _, _ := c2.Get(42); v[0] != 42 {
		t.Fatalf("through another handle: %v", v)
	}

	// Codecs: string keys, JSON values.
	type config struct {
		Name  string
		Ports []int
	}
	j, err := value.NewMapWith(seg, "json", value.MapOptions{Entries: 10}, value.StringCodec{}, value.JSONCodec[config]{})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Put("web", config{"nginx", []int{80, 443}}); err != nil {
		t.Fatal(err)
	}
	j2, err := value.OpenMapWith(seg, "json", value.StringCodec{}, value.JSONCodec[config]{})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok, err := j2.Get("web"); !ok || err != nil || v.Name != "nginx" || !slices.Equal(v.Ports, []int{80, 443}) {
		t.Fatalf("Get = %+v, %v, %v", v, ok, err)
	}
	raw, err := value.OpenBytesMap(seg, "json")
	if err != nil {
		t.Fatal(err)
	}
	if v, _, _ := raw.Get([]byte("web"), nil); string(v) != `{"Name":"nginx","Ports":[80,443]}` {
		t.Fatalf("the bytes: %s", v)
	}
	raw.Put([]byte("bad"), []byte("{"))
	if _, _, err := j.Get("bad"); err == nil || !strings.Contains(err.Error(), "decoding a value") {
		t.Fatalf("Get of a value the codec cannot decode = %v", err)
	}
	if err := j.Range(func(string, config) bool { return true }); err == nil {
		t.Fatal("Range over a value the codec cannot decode succeeded")
	}

	// A fixed key with a codec for values, and []byte values.
	f, err := value.NewMapWith(seg, "mixed", value.MapOptions{Entries: 10}, value.FixedCodec[uint32]{}, value.BytesCodec{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Put(7, []byte("seven")); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := f.Get(7); !ok || err != nil || string(v) != "seven" {
		t.Fatalf("Get(7) = %q, %v, %v", v, ok, err)
	}
	if v, _, _ := raw.Get([]byte("web"), nil); len(v) == 0 {
		t.Fatal("lost")
	}
	verify(t, m)
	verify(t, c)
	verify(t, j)
	verify(t, f)
}

// TestMapOpenErrors: kinds, forms and types that do not match.
func TestMapOpenErrors(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	if _, err := value.NewMap[int64, int64](seg, "typed", 10); err != nil {
		t.Fatal(err)
	}
	if _, err := value.NewBytesMap(seg, "bytes", value.MapOptions{Entries: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := value.NewBytesMap(seg, "bytes", value.MapOptions{Entries: 10}); !errors.Is(err, shm.ErrExist) {
		t.Fatalf("NewBytesMap of a taken name = %v", err)
	}
	value.New[int64](seg, "v")
	for _, c := range []struct {
		name string
		err  error
		open func() error
	}{
		{"bytes map opened as typed", shm.ErrWrongKind, func() error { _, err := value.OpenMap[int64, int64](seg, "bytes"); return err }},
		{"typed map opened as bytes", shm.ErrWrongKind, func() error { _, err := value.OpenBytesMap(seg, "typed"); return err }},
		{"typed map opened with codecs", shm.ErrWrongKind, func() error {
			_, err := value.OpenMapWith(seg, "typed", value.FixedCodec[int64]{}, value.FixedCodec[int64]{})
			return err
		}},
		{"other value type", shm.ErrWrongKind, func() error { _, err := value.OpenMap[int64, float64](seg, "typed"); return err }},
		{"other key type", shm.ErrWrongKind, func() error { _, err := value.OpenMap[uint64, int64](seg, "typed"); return err }},
		{"a value", shm.ErrWrongKind, func() error { _, err := value.OpenBytesMap(seg, "v"); return err }},
		{"absent", shm.ErrNotExist, func() error { _, err := value.OpenBytesMap(seg, "nothing"); return err }},
		{"string key", value.ErrUnsupportedType, func() error { _, err := value.NewMap[string, int64](seg, "s", 10); return err }},
		{"pointer value", value.ErrUnsupportedType, func() error { _, err := value.NewMap[int64, *int](seg, "p", 10); return err }},
		{"fixed codec of a slice", value.ErrUnsupportedType, func() error {
			_, err := value.NewMapWith(seg, "q", value.MapOptions{Entries: 1}, value.StringCodec{}, value.FixedCodec[[]int]{})
			return err
		}},
		{"too large", shm.ErrNoSpace, func() error { _, err := value.NewBytesMap(seg, "big", value.MapOptions{Entries: 1 << 20}); return err }},
	} {
		if err := c.open(); !errors.Is(err, c.err) {
			t.Errorf("%s: %v, want %v", c.name, err, c.err)
		}
	}
	for _, opt := range []value.MapOptions{{}, {Entries: -1}, {Entries: 1 << 31}, {Entries: 1, Bytes: -1}, {Entries: 1, Bytes: 1 << 33}, {Entries: 1, Bytes: 10, MaxEntryBytes: 11}} {
		if _, err := value.NewBytesMap(seg, "bad", opt); err == nil {
			t.Errorf("NewBytesMap(%+v) succeeded", opt)
		}
	}
	if _, err := value.NewMap[int64, int64](seg, "zero", 0); err == nil {
		t.Error("NewMap of 0 entries succeeded")
	}
	if _, err := (value.FixedCodec[string]{}).Append(nil, "x"); !errors.Is(err, value.ErrUnsupportedType) {
		t.Errorf("FixedCodec[string].Append = %v", err)
	}
	if _, err := (value.FixedCodec[int32]{}).Decode([]byte{1, 2}); !errors.Is(err, shm.ErrCorrupt) {
		t.Errorf("FixedCodec[int32].Decode of 2 bytes = %v", err)
	}
}

// TestMapRangeWhileWriting: Range holds no lock while its function runs,
// which may write the map; each key present throughout is seen once.
func TestMapRangeWhileWriting(t *testing.T) {
	seg := testutil.Segment(t, 4<<20)
	m, err := value.NewBytesMap(seg, "m", value.MapOptions{Entries: 3000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		put(t, m, "stay"+strconv.Itoa(i), strconv.Itoa(i))
	}
	seen := map[string]int{}
	i := 0
	err = m.Range(func(k, v []byte) bool {
		seen[string(k)]++
		// Writes during the iteration: new keys, and deletes of others.
		put(t, m, "new"+strconv.Itoa(i), "x")
		m.Delete([]byte("new" + strconv.Itoa(i-5)))
		i++
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	for j := range 1000 {
		if n := seen["stay"+strconv.Itoa(j)]; n != 1 {
			t.Fatalf("key stay%d seen %d times", j, n)
		}
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("key %s seen %d times", k, n)
		}
	}
	// Stopping early.
	n := 0
	m.Range(func(k, v []byte) bool { n++; return n < 10 })
	if n != 10 {
		t.Fatalf("Range went on after false: %d calls", n)
	}
	verify(t, m)
}

// TestMapChurn: put/delete cycles in a map of fixed size, its live data
// near its capacity, never report ErrNoSpace, leak no chunk, and keep
// every value: the space of deleted entries is reused.
func TestMapChurn(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	const entries, bytes = 256, 256 * 40
	m, err := value.NewBytesMap(seg, "m", value.MapOptions{Entries: entries, Bytes: bytes, MaxEntryBytes: 200})
	if err != nil {
		t.Fatal(err)
	}
	objects := fmt.Sprint(seg.Objects())
	r := rand.New(rand.NewPCG(2, 3))
	type live struct {
		key string
		n   int
	}
	var queue []live // oldest first
	used := 0
	cycles := mapSize(1_000_000, 20)
	for i := range cycles {
		key := strconv.Itoa(i)
		n := 8 + r.IntN(190) // a value of 0..197 bytes after the key
		for len(queue) == entries || used+n > bytes {
			old := queue[0]
			queue = queue[1:]
			if ok, err := m.Delete([]byte(old.key)); !ok || err != nil {
				t.Fatalf("cycle %d: Delete(%s) = %v, %v", i, old.key, ok, err)
			}
			used -= old.n
		}
		if err := m.Put([]byte(key), []byte(pattern(i, n-len(key)))); err != nil {
			t.Fatalf("cycle %d: Put with %d entries and %d bytes live: %v", i, len(queue), used, err)
		}
		queue = append(queue, live{key, n})
		used += n
	}
	verify(t, m)
	if m.Len() != len(queue) {
		t.Fatalf("Len %d, want %d", m.Len(), len(queue))
	}
	for _, e := range queue {
		i, _ := strconv.Atoi(e.key)
		if v, ok := get(t, m, e.key); !ok || v != pattern(i, e.n-len(e.key)) {
			t.Fatalf("key %s: %d bytes, %v", e.key, len(v), ok)
		}
	}
	if got := fmt.Sprint(seg.Objects()); got != objects {
		t.Fatalf("the segment's objects changed: %s → %s", objects, got)
	}
}

// ---- Between processes ----

// childMapWriter puts args[2] distinct keys "w<id>-<i>", each with the
// value mapValue(id, i), after the start barrier.
var childMapWriter = spawn.Register("TestMapWriters.writer", func(ctx context.Context, c *spawn.Child) error {
	seg, sh, n, procs, err := childArgs(c)
	if err != nil {
		return err
	}
	id := c.Args()[2]
	m, err := value.OpenBytesMap(seg, "m")
	if err != nil {
		return err
	}
	if err := testutil.StartBarrier(&sh.arrived, procs); err != nil {
		return err
	}
	for i := range n {
		if err := m.Put([]byte("w"+id+"-"+strconv.Itoa(i)), mapValue(id, i)); err != nil {
			return err
		}
	}
	return nil
})

// mapValue is the value writer id puts for its key i: 1 to 120 bytes, so
// that some take several chunks.
func mapValue(id string, i int) []byte {
	return []byte(strings.Repeat(id+"/"+strconv.Itoa(i)+";", 1+i%12))
}

// childMapChecker reads every key the writers put, from another process.
var childMapChecker = spawn.Register("TestMapWriters.checker", func(ctx context.Context, c *spawn.Child) error {
	seg, _, n, procs, err := childArgs(c)
	if err != nil {
		return err
	}
	m, err := value.OpenBytesMap(seg, "m")
	if err != nil {
		return err
	}
	if m.Len() != n*procs {
		return fmt.Errorf("Len %d, want %d", m.Len(), n*procs)
	}
	var buf []byte
	for w := range procs {
		id := strconv.Itoa(w)
		for i := range n {
			var ok bool
			buf, ok, err = m.Get([]byte("w"+id+"-"+strconv.Itoa(i)), buf)
			if err != nil || !ok || !bytes.Equal(buf, mapValue(id, i)) {
				return fmt.Errorf("key w%s-%d: %q, %v, %v", id, i, buf, ok, err)
			}
		}
	}
	count := 0
	if err := m.Range(func(k, v []byte) bool { count++; return true }); err != nil || count != n*procs {
		return fmt.Errorf("Range saw %d entries, %v", count, err)
	}
	return value.Verify(m)
})

// TestMapWriters: four processes each put 25 000 distinct keys at once;
// the map holds all 100 000, each with its value, read from a fifth
// process.
func TestMapWriters(t *testing.T) {
	const procs = 4
	n := mapSize(25_000, 5)
	seg := testutil.Segment(t, 32<<20)
	if _, err := value.NewBytesMap(seg, "m", value.MapOptions{Entries: procs * n}); err != nil {
		t.Fatal(err)
	}
	newShared(t, seg)
	var ps []*spawn.Process
	for id := range procs {
		ps = append(ps, testutil.Start(t, childMapWriter, seg, strconv.Itoa(n), strconv.Itoa(procs), strconv.Itoa(id)))
	}
	testutil.WaitAll(t, ps...)
	testutil.WaitAll(t, testutil.Start(t, childMapChecker, seg, strconv.Itoa(n), strconv.Itoa(procs)))
}

// childMapCounter increments each of args[2] counters args[0] times with
// Update, interleaved with Puts and Deletes of its own keys, which change
// the chains the counters are on.
var childMapCounter = spawn.Register("TestMapUpdateCounters", func(ctx context.Context, c *spawn.Child) error {
	seg, sh, n, procs, err := childArgs(c)
	if err != nil {
		return err
	}
	counters, _ := strconv.Atoi(c.Args()[2])
	id, _ := strconv.Atoi(c.Args()[3])
	m, err := value.OpenMap[int64, int64](seg, "m")
	if err != nil {
		return err
	}
	if err := testutil.StartBarrier(&sh.arrived, procs); err != nil {
		return err
	}
	for i := range n {
		for k := range int64(counters) {
			if err := m.Update(k, func(v int64, _ bool) (int64, bool) { return v + 1, true }); err != nil {
				return err
			}
		}
		own := int64(1000 + id*n + i)
		if err := m.Put(own, own); err != nil {
			return err
		}
		if i >= 4 {
			if ok, err := m.Delete(own - 4); !ok || err != nil {
				return fmt.Errorf("Delete(%d) = %v, %v", own-4, ok, err)
			}
		}
	}
	return nil
})

// TestMapUpdateCounters: processes increment shared counters with Update;
// every counter ends exact.
func TestMapUpdateCounters(t *testing.T) {
	const procs, counters = 4, 8
	n := mapSize(5_000, 10)
	seg := testutil.Segment(t, 1<<20)
	m, err := value.NewMap[int64, int64](seg, "m", counters+procs*4+procs)
	if err != nil {
		t.Fatal(err)
	}
	newShared(t, seg)
	var ps []*spawn.Process
	for id := range procs {
		ps = append(ps, testutil.Start(t, childMapCounter, seg, strconv.Itoa(n), strconv.Itoa(procs), strconv.Itoa(counters), strconv.Itoa(id)))
	}
	testutil.WaitAll(t, ps...)
	for k := range int64(counters) {
		if v, ok, err := m.Get(k); !ok || err != nil || v != int64(procs*n) {
			t.Errorf("counter %d = %d, %v, %v; want %d", k, v, ok, err, procs*n)
		}
	}
	if m.Len() != counters+procs*4 {
		t.Errorf("Len %d, want %d", m.Len(), counters+procs*4)
	}
	verify(t, m)
}

// childMapChurner churns its own keys, args[2] live at a time.
var childMapChurner = spawn.Register("TestMapChurnProcesses", func(ctx context.Context, c *spawn.Child) error {
	seg, sh, n, procs, err := childArgs(c)
	if err != nil {
		return err
	}
	live, _ := strconv.Atoi(c.Args()[2])
	id := c.Args()[3]
	m, err := value.OpenBytesMap(seg, "m")
	if err != nil {
		return err
	}
	if err := testutil.StartBarrier(&sh.arrived, procs); err != nil {
		return err
	}
	for i := range n {
		val := pattern(i, i%90)
		if err := m.Put([]byte(id+"/"+strconv.Itoa(i)), []byte(val)); err != nil {
			return fmt.Errorf("cycle %d: %w", i, err)
		}
		if i >= live {
			if ok, err := m.Delete([]byte(id + "/" + strconv.Itoa(i-live))); !ok || err != nil {
				return fmt.Errorf("cycle %d: Delete = %v, %v", i, ok, err)
			}
		}
	}
	return nil
})

// TestMapChurnProcesses: processes churn at once, together always within
// the capacity: no ErrNoSpace, no leaked chunk.
func TestMapChurnProcesses(t *testing.T) {
	const procs, live = 3, 100
	n := mapSize(100_000, 20)
	seg := testutil.Segment(t, 1<<20)
	// Each process holds up to live+1 entries of up to 89 + 7 bytes.
	m, err := value.NewBytesMap(seg, "m", value.MapOptions{Entries: procs * (live + 1), Bytes: procs * (live + 1) * 96, MaxEntryBytes: 96})
	if err != nil {
		t.Fatal(err)
	}
	newShared(t, seg)
	var ps []*spawn.Process
	for id := range procs {
		ps = append(ps, testutil.Start(t, childMapChurner, seg, strconv.Itoa(n), strconv.Itoa(procs), strconv.Itoa(live), strconv.Itoa(id)))
	}
	testutil.WaitAll(t, ps...)
	if m.Len() != procs*live {
		t.Fatalf("Len %d, want %d", m.Len(), procs*live)
	}
	for id := range procs {
		for i := n - live; i < n; i++ {
			if v, ok := get(t, m, strconv.Itoa(id)+"/"+strconv.Itoa(i)); !ok || v != pattern(i, i%90) {
				t.Fatalf("key %d/%d: %d bytes, %v", id, i, len(v), ok)
			}
		}
	}
	verify(t, m)
}

// childMapReader stops in the middle of a Get, holding the read lock, until
// the parent sets stop.
var childMapReader = spawn.Register("TestMapReadersShare", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	sh, err := openShared(seg)
	if err != nil {
		return err
	}
	m, err := value.OpenBytesMap(seg, "m")
	if err != nil {
		return err
	}
	value.SetMapReadHook(func() {
		atomic.StoreUint32(&sh.flag, 1)
		testutil.Await("the parent's stop", func() bool { return atomic.LoadUint32(&sh.stop) == 1 })
	})
	v, ok, err := m.Get([]byte("k"), nil)
	if err != nil || !ok || string(v) != "v" {
		return fmt.Errorf("Get = %q, %v, %v", v, ok, err)
	}
	return nil
})

// TestMapReadersShare: a reader holding the read lock in one process does
// not block a reader in another; a writer waits for it.
func TestMapReadersShare(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	m, err := value.NewBytesMap(seg, "m", value.MapOptions{Entries: 4})
	if err != nil {
		t.Fatal(err)
	}
	put(t, m, "k", "v")
	sh := newShared(t, seg)
	p := testutil.Start(t, childMapReader, seg)
	testutil.WaitFor(t, testutil.Timeout, "the child to hold the read lock", func() bool { return atomic.LoadUint32(&sh.flag) == 1 })
	if v, ok := get(t, m, "k"); !ok || v != "v" {
		t.Fatalf("Get while another process reads = %q, %v", v, ok)
	}
	done := make(chan error, 1)
	go func() { done <- m.Put([]byte("k"), []byte("w")) }()
	select {
	case err := <-done:
		t.Fatalf("Put returned (%v) while another process held the read lock", err)
	case <-time.After(50 * time.Millisecond): // the Put waits; were it not to, it would have returned
	}
	atomic.StoreUint32(&sh.stop, 1)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	testutil.WaitAll(t, p)
	if v, _ := get(t, m, "k"); v != "w" {
		t.Fatalf("Get after the Put = %q", v)
	}
}

// TestMapGoroutines: goroutines of one process share a handle; each
// counts on its own key and reads the others'.
func TestMapGoroutines(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	m, err := value.NewMapWith(seg, "m", value.MapOptions{Entries: 16}, value.StringCodec{}, value.JSONCodec[[]int]{})
	if err != nil {
		t.Fatal(err)
	}
	const gs = 4
	n := mapSize(2000, 10)
	var wg sync.WaitGroup
	errs := make(chan error, gs)
	for g := range gs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "g" + strconv.Itoa(g)
			for i := range n {
				var bad error
				err := m.Update(key, func(v []int, ok bool) ([]int, bool) {
					if want := min(i, 1); len(v) != want || ok != (i > 0) || i > 0 && v[0] != i {
						bad = fmt.Errorf("%s holds %v, %v before update %d", key, v, ok, i)
					}
					return []int{i + 1}, true
				})
				if err == nil {
					err = bad
				}
				if err != nil {
					errs <- err
					return
				}
				if _, _, err := m.Get("g" + strconv.Itoa((g+1)%gs)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for g := range gs {
		if v, ok, err := m.Get("g" + strconv.Itoa(g)); !ok || err != nil || len(v) != 1 || v[0] != n {
			t.Fatalf("g%d = %v, %v, %v; want [%d]", g, v, ok, err, n)
		}
	}
	verify(t, m)
}

//go:build linux

package array_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/internal/typelayout"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// shared holds the handshake words of a test; every access is atomic.
type shared struct {
	arrived uint32 // start barrier
	flag    uint32
}

func newShared(tb testing.TB, seg *shm.Segment) *shared {
	return testutil.Overlay[shared](tb, seg, "shared")
}

func openShared(seg *shm.Segment) (*shared, error) {
	return testutil.OpenOverlay[shared](seg, "shared")
}

// pattern is the value of element i in TestLargeArray: every bit of the
// mantissa varies, and no two neighbours are equal.
func pattern(i int) float64 { return math.Sqrt(float64(i)) + float64(i%7)*1e-3 }

var childFill = spawn.Register("TestLargeArray", func(ctx context.Context, c *spawn.Child) error {
	a, err := array.Open[float64](c.Segments()[0], "big")
	if err != nil {
		return err
	}
	s := a.Slice()
	for i := range s {
		s[i] = pattern(i)
	}
	return nil
})

// TestLargeArray: a child fills a 64 MiB []float64 through Slice; the
// parent reads every element back exactly.
func TestLargeArray(t *testing.T) {
	n := testutil.Size(64<<20, 8) / 8
	seg := testutil.Segment(t, int64(n)*8+1<<20)
	a, err := array.New[float64](seg, "big", n)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitAll(t, testutil.Start(t, childFill, seg))
	s := a.Slice()
	if len(s) != n || cap(s) != n || a.Len() != n {
		t.Fatalf("Slice has length %d and capacity %d, Len %d; want %d", len(s), cap(s), a.Len(), n)
	}
	for i, x := range s {
		if x != pattern(i) {
			t.Fatalf("element %d = %v, want %v", i, x, pattern(i))
		}
	}
	if a.At(n-1) != pattern(n-1) {
		t.Fatalf("At(%d) = %v", n-1, a.At(n-1))
	}
	t.Logf("%d MiB read back", n*8>>20)
}

var childUpdate = spawn.Register("TestUpdateFromProcesses", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	sh, err := openShared(seg)
	if err != nil {
		return err
	}
	a, err := array.Open[int64](seg, "a")
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(c.Args()[0])
	procs, _ := strconv.Atoi(c.Args()[1])
	if err := testutil.StartBarrier(&sh.arrived, procs); err != nil {
		return err
	}
	var failure error
	for range n {
		a.Update(func(s []int64) {
			// Under the lock all elements are equal: no other Update is
			// halfway through.
			for j := range s {
				if s[j] != s[0] && failure == nil {
					failure = fmt.Errorf("element %d = %d while element 0 = %d: two Updates overlapped", j, s[j], s[0])
				}
			}
			for j := range s {
				s[j]++
			}
		})
	}
	return failure
})

// TestUpdateFromProcesses: several processes each add 1 to every element,
// many times, with Update; every increment lands and no two Updates
// overlap.
func TestUpdateFromProcesses(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	a, err := array.New[int64](seg, "a", 16)
	if err != nil {
		t.Fatal(err)
	}
	newShared(t, seg)
	const procs = 3
	n := testutil.Size(20_000, 10)
	ps := testutil.StartN(t, procs, childUpdate, seg, strconv.Itoa(n), strconv.Itoa(procs))
	testutil.WaitAll(t, ps...)
	for i, x := range a.Slice() {
		if x != int64(procs*n) {
			t.Fatalf("element %d = %d after %d processes × %d Updates, want %d", i, x, procs, n, procs*n)
		}
	}
}

type (
	pair   struct{ X, Y int32 } // 8 bytes, alignment 4: atomic At and Set
	triple struct{ A, B, C int16 }
	wide   struct {
		ID   uint64
		Vals [3]float64
	}
)

func roundTrip[T comparable](t *testing.T, seg *shm.Segment, name string, vals ...T) {
	t.Helper()
	a, err := array.New[T](seg, name, len(vals))
	if err != nil {
		t.Fatal(err)
	}
	var zero T
	for i := range vals {
		if a.At(i) != zero {
			t.Fatalf("%s: new element %d = %v", name, i, a.At(i))
		}
		a.Set(i, vals[i])
	}
	b, err := array.Open[T](seg, name)
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != len(vals) {
		t.Fatalf("%s: Len through Open = %d", name, b.Len())
	}
	for i, v := range vals {
		if b.At(i) != v || b.Slice()[i] != v {
			t.Fatalf("%s: element %d = %v (At), %v (Slice); want %v", name, i, b.At(i), b.Slice()[i], v)
		}
	}
	var x T
	if align := unsafe.Alignof(x); len(vals) > 0 && uintptr(unsafe.Pointer(&b.Slice()[0]))%max(align, 64) != 0 {
		t.Fatalf("%s: elements start at %p, not 64-byte aligned", name, &b.Slice()[0])
	}
}

// TestRoundTrip: elements of each size set through At and read through
// Open, At and Slice.
func TestRoundTrip(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	roundTrip(t, seg, "bool", true, false, true)
	roundTrip(t, seg, "uint8", uint8(1), 255, 3)
	roundTrip(t, seg, "int16", int16(-1), 2)
	roundTrip(t, seg, "int32", int32(math.MinInt32), 0, math.MaxInt32)
	roundTrip(t, seg, "float32", float32(1.25), -2)
	roundTrip(t, seg, "int64", int64(math.MinInt64), 1, math.MaxInt64)
	roundTrip(t, seg, "float64", math.Pi, math.Inf(-1), -0.5)
	roundTrip(t, seg, "pair", pair{1, -1}, pair{math.MaxInt32, 0})
	roundTrip(t, seg, "triple", triple{1, 2, 3}, triple{-4, -5, -6}, triple{})
	roundTrip(t, seg, "complex128", 1+2i, -3i)
	roundTrip(t, seg, "wide", wide{1, [3]float64{1, 2, 3}}, wide{ID: math.MaxUint64})
	roundTrip[int64](t, seg, "empty")
	roundTrip(t, seg, "unit", struct{}{}, struct{}{})
}

var childAtSet = spawn.Register("TestAtSetAcrossProcesses", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	a, err := array.Open[float64](seg, "f")
	if err != nil {
		return err
	}
	w, err := array.Open[wide](seg, "w")
	if err != nil {
		return err
	}
	// Python's in-place prefix sum over an Array, in the child.
	for i := 1; i < a.Len(); i++ {
		a.Set(i, a.At(i)+a.At(i-1))
	}
	w.Update(func(s []wide) {
		for i := range s {
			s[i].ID = uint64(i) * 10
			s[i].Vals[2] = a.At(i)
		}
	})
	return nil
})

// TestAtSetAcrossProcesses: what a child writes with Set and Update, the
// parent reads.
func TestAtSetAcrossProcesses(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	a, err := array.New[float64](seg, "f", 10)
	if err != nil {
		t.Fatal(err)
	}
	w, err := array.New[wide](seg, "w", 10)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Len() {
		a.Set(i, float64(i))
	}
	testutil.WaitAll(t, testutil.Start(t, childAtSet, seg))
	for i := range a.Len() {
		want := float64(i * (i + 1) / 2)
		if a.At(i) != want {
			t.Errorf("element %d = %v, want %v", i, a.At(i), want)
		}
		if got := w.At(i); got.ID != uint64(i)*10 || got.Vals[2] != want {
			t.Errorf("wide element %d = %+v", i, got)
		}
	}
}

// TestBounds: At and Set panic like slice indexing, with the same message
// shape, and change nothing.
func TestBounds(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	a, err := array.New[int64](seg, "a", 3)
	if err != nil {
		t.Fatal(err)
	}
	w, err := array.New[wide](seg, "w", 3)
	if err != nil {
		t.Fatal(err)
	}
	s := a.Slice()
	for _, c := range []struct {
		fn   func()
		want string
	}{
		{func() { a.At(5) }, "array: index out of range [5] with length 3"},
		{func() { a.At(3) }, "array: index out of range [3] with length 3"},
		{func() { a.At(-1) }, "array: index out of range [-1]"},
		{func() { a.Set(3, 1) }, "array: index out of range [3] with length 3"},
		{func() { a.Set(math.MinInt, 1) }, fmt.Sprintf("array: index out of range [%d]", math.MinInt)},
		{func() { w.At(3) }, "array: index out of range [3] with length 3"},
		{func() { w.Set(-2, wide{}) }, "array: index out of range [-2]"},
	} {
		got := func() (msg string) {
			defer func() { msg, _ = recover().(string) }()
			c.fn()
			return "no panic"
		}()
		if got != c.want {
			t.Errorf("panic %q, want %q", got, c.want)
		}
	}
	// The runtime's own message, for comparison: the same shape.
	rt := func() (msg string) {
		defer func() { msg = fmt.Sprint(recover()) }()
		i := 5
		_ = s[i]
		return ""
	}()
	if want := "runtime error: index out of range [5] with length 3"; rt != want {
		t.Errorf("the runtime says %q, expected %q", rt, want)
	}
	for i, x := range s {
		if x != 0 {
			t.Errorf("element %d = %d after refused Sets", i, x)
		}
	}
}

type (
	Config struct {
		Port  uint16
		Inner struct {
			Count int
			Names []string
		}
	}
	point  struct{ X, Y float64 }
	vec2   struct{ X, Y float64 }
	swap   struct{ Y, X float64 }
	ipoint struct{ X, Y int64 }
)

// TestTypes: refused element types are named; Open checks the element type
// and accepts the same layout under another name.
func TestTypes(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	const refusal = ": only fixed-size types without pointers can live in shared memory"
	for _, c := range []struct {
		err  error
		want string
	}{
		{newErr[Config](seg), "array: type array_test.Config: field Inner.Names is a []string" + refusal},
		{newErr[*float64](seg), "array: type *float64" + refusal},
		{newErr[struct{ M map[int]int }](seg), "array: type struct { M map[int]int }: field M is a map[int]int" + refusal},
		{newErr[[3]struct{ S string }](seg), "array: type [3]struct { S string }: element [0].S is a string" + refusal},
		{openErr[struct{ F func() }](seg), "array: type struct { F func() }: field F is a func()" + refusal},
		{openErr[any](seg), "array: type interface {}" + refusal},
	} {
		if !errors.Is(c.err, array.ErrUnsupportedType) || c.err.Error() != c.want {
			t.Errorf("got  %v\nwant %s", c.err, c.want)
		}
	}

	a, err := array.New[point](seg, "p", 4)
	if err != nil {
		t.Fatal(err)
	}
	a.Set(3, point{1, 2})
	v, err := array.Open[vec2](seg, "p")
	if err != nil {
		t.Fatalf("Open[vec2] of an Array[point]: %v", err)
	}
	if v.At(3) != (vec2{1, 2}) {
		t.Fatalf("At through Open[vec2] = %v", v.At(3))
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{openErr[swap](seg), "created for another 16-byte type"},
		{openErr[ipoint](seg), "the field names, kinds or offsets of array_test.ipoint differ"},
		{openErr[float64](seg), "created for a 16-byte type; float64 is 8 bytes"},
		{openErr[[4]int32](seg), "created for a type with alignment 8; [4]int32 has alignment 4"},
	} {
		var se *shm.Error
		if !errors.Is(c.err, shm.ErrWrongKind) || !errors.As(c.err, &se) || se.Object != "p" || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("got  %v\nwant ErrWrongKind for \"p\" saying %q", c.err, c.want)
		}
	}
	if _, err := shm.NewBytes(seg, "bytes", 64); err != nil {
		t.Fatal(err)
	}
	if _, err := array.Open[point](seg, "bytes"); !errors.Is(err, shm.ErrWrongKind) {
		t.Errorf("Open of a bytes object = %v", err)
	}
	if _, err := array.Open[point](seg, "none"); !errors.Is(err, shm.ErrNotExist) {
		t.Errorf("Open of a missing name = %v", err)
	}
	if _, err := array.New[point](seg, "p", 1); !errors.Is(err, shm.ErrExist) {
		t.Errorf("New of a taken name = %v", err)
	}
	if _, err := array.New[point](seg, "neg", -1); err == nil || !strings.Contains(err.Error(), "negative length -1") {
		t.Errorf("New with n = -1: %v", err)
	}
	if _, err := array.New[point](seg, "huge", math.MaxInt/8); !errors.Is(err, shm.ErrNoSpace) {
		t.Errorf("New beyond memory = %v, want ErrNoSpace", err)
	}
	if _, err := array.New[float64](seg, "toobig", 1<<20); !errors.Is(err, shm.ErrNoSpace) {
		t.Errorf("New beyond the segment = %v, want ErrNoSpace", err)
	}
}

func newErr[T any](seg *shm.Segment) error {
	_, err := array.New[T](seg, "x", 1)
	return err
}

func openErr[T any](seg *shm.Segment) error {
	_, err := array.Open[T](seg, "p")
	return err
}

var ne = binary.NativeEndian

// TestCorruptHeader changes one header field per row and checks that Open
// reports ErrCorrupt naming the object, the field and its offset.
func TestCorruptHeader(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(h []byte)
		field  string
		off    int64
		detail string
	}{
		{"form", func(h []byte) { ne.PutUint32(h[typelayout.OffForm:], 2) }, "form", typelayout.OffForm, "form 2"},
		{"alignment", func(h []byte) { ne.PutUint32(h[typelayout.OffAlign:], 5) }, "align", typelayout.OffAlign, "element alignment 5"},
		{"size", func(h []byte) { ne.PutUint64(h[typelayout.OffSize:], 12) }, "size", typelayout.OffSize, "not a multiple"},
		{"count beyond object", func(h []byte) { ne.PutUint64(h[typelayout.OffCount:], 11) }, "count", typelayout.OffCount, "11 elements of 8 bytes do not fit in the 208-byte object"},
		{"count overflows", func(h []byte) { ne.PutUint64(h[typelayout.OffCount:], 1<<61) }, "count", typelayout.OffCount, "do not fit"},
		{"size × count overflows", func(h []byte) {
			ne.PutUint64(h[typelayout.OffSize:], 1<<32)
			ne.PutUint64(h[typelayout.OffCount:], 1<<32)
		}, "count", typelayout.OffCount, "do not fit"},
		{"count smaller", func(h []byte) { ne.PutUint64(h[typelayout.OffCount:], 3) }, "check", typelayout.OffCheck, "header checksum"},
		{"fingerprint", func(h []byte) { h[typelayout.OffFingerprint] ^= 4 }, "check", typelayout.OffCheck, "header checksum"},
		{"checksum", func(h []byte) { h[typelayout.OffCheck+7] ^= 0x80 }, "check", typelayout.OffCheck, "header checksum"},
	} {
		t.Run(c.name, func(t *testing.T) {
			seg := testutil.Segment(t, 1<<20)
			a, err := array.New[float64](seg, "a", 10)
			if err != nil {
				t.Fatal(err)
			}
			a.Set(9, 1.5)
			mem, err := seg.Lookup("a", shm.KindArray)
			if err != nil {
				t.Fatal(err)
			}
			objOff := seg.Objects()[0].Offset
			c.mutate(mem[:typelayout.HeaderSize])
			_, err = array.Open[float64](seg, "a")
			var se *shm.Error
			if !errors.Is(err, shm.ErrCorrupt) || !errors.As(err, &se) {
				t.Fatalf("Open = %v, want ErrCorrupt in a *shm.Error", err)
			}
			if se.Object != "a" || se.Field != c.field || se.Offset != objOff+c.off || !strings.Contains(err.Error(), c.detail) {
				t.Fatalf("Open = %v (object %q, field %q, offset %d); want object \"a\", field %q at %d, saying %q",
					err, se.Object, se.Field, se.Offset, c.field, objOff+c.off, c.detail)
			}
			if a.At(9) != 1.5 {
				t.Fatal("the open handle lost its elements")
			}
		})
	}
}

// TestCountBeyondInt: elements of a zero-size type fit in any object, so
// only the count's own range stops a header, rewritten with a valid
// checksum, that counts 2^63 of them or more: Open and OpenList report
// ErrCorrupt naming the count rather than making a slice no int can
// measure.
func TestCountBeyondInt(t *testing.T) {
	for _, c := range []struct {
		kind shm.Kind
		make func(*shm.Segment) error
		open func(*shm.Segment) (int, error) // the capacity opened
	}{
		{shm.KindArray,
			func(seg *shm.Segment) error { _, err := array.New[struct{}](seg, "a", 3); return err },
			func(seg *shm.Segment) (int, error) {
				a, err := array.Open[struct{}](seg, "a")
				if err != nil {
					return 0, err
				}
				return a.Len(), nil
			}},
		{shm.KindList,
			func(seg *shm.Segment) error { _, err := array.NewList[struct{}](seg, "a", 3); return err },
			func(seg *shm.Segment) (int, error) {
				l, err := array.OpenList[struct{}](seg, "a")
				if err != nil {
					return 0, err
				}
				return l.Cap(), nil
			}},
	} {
		for _, count := range []uint64{1 << 63, math.MaxUint64} {
			seg := testutil.Segment(t, 1<<20)
			if err := c.make(seg); err != nil {
				t.Fatal(err)
			}
			mem, err := seg.Lookup("a", c.kind)
			if err != nil {
				t.Fatal(err)
			}
			h, _ := typelayout.Read(mem)
			h.Count = count
			typelayout.Put(mem, h)
			_, err = c.open(seg)
			var se *shm.Error
			if !errors.Is(err, shm.ErrCorrupt) || !errors.As(err, &se) || se.Field != "count" {
				t.Fatalf("%v: open of %d zero-size elements = %v; want ErrCorrupt naming the count", c.kind, count, err)
			}
			h.Count = math.MaxInt
			typelayout.Put(mem, h)
			if n, err := c.open(seg); err != nil || n != math.MaxInt {
				t.Fatalf("%v: open of MaxInt zero-size elements = %d, %v", c.kind, n, err)
			}
		}
	}
}

// childDieInUpdate writes the first half of the elements inside Update and
// stops there, to be killed.
var childDieInUpdate = spawn.Register("TestCrashInUpdate", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	sh, err := openShared(seg)
	if err != nil {
		return err
	}
	a, err := array.Open[int64](seg, "a")
	if err != nil {
		return err
	}
	a.Update(func(s []int64) {
		for i := range s[:len(s)/2] {
			s[i] = -1
		}
		atomic.StoreUint32(&sh.flag, 1)
		<-ctx.Done() // killed here
	})
	return errors.New("Update returned")
})

// TestCrashInUpdate: a process killed inside Update leaves its in-place
// writes and the lock; the next locker takes the lock over and learns of it
// from LockContext, and Update works again.
func TestCrashInUpdate(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	a, err := array.New[int64](seg, "a", 8)
	if err != nil {
		t.Fatal(err)
	}
	sh := newShared(t, seg)
	p := testutil.Start(t, childDieInUpdate, seg)
	testutil.WaitFor(t, testutil.Timeout, "the child to stop inside Update", func() bool { return atomic.LoadUint32(&sh.flag) == 1 })
	p.Kill()
	p.Wait()
	m := a.Locker().(*lock.Mutex)
	if m.Holder() != p.Pid() {
		t.Fatalf("lock holder %d, want the dead child %d", m.Holder(), p.Pid())
	}
	if err := m.LockContext(context.Background()); !errors.Is(err, lock.ErrOwnerDead) {
		t.Fatalf("LockContext = %v, want ErrOwnerDead", err)
	}
	want := []int64{-1, -1, -1, -1, 0, 0, 0, 0} // half-done: repair is the caller's
	for i, x := range a.Slice() {
		if x != want[i] {
			t.Fatalf("element %d = %d, want %d", i, x, want[i])
		}
	}
	clear(a.Slice()) // repaired
	m.Unlock()
	a.Update(func(s []int64) { s[0] = 1 })
	if a.At(0) != 1 {
		t.Fatal("Update after the takeover did not run")
	}
}

// TestLocker: the Python idiom "with arr.get_lock(): arr[i] += 1" works with
// At and Set under Locker.
func TestLocker(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	a, err := array.New[int32](seg, "a", 2)
	if err != nil {
		t.Fatal(err)
	}
	m := a.Locker()
	m.Lock()
	a.Set(1, a.At(1)+1)
	if a.Locker().(*lock.Mutex).TryLock() {
		t.Fatal("the lock is not held")
	}
	m.Unlock()
	if a.At(1) != 1 {
		t.Fatalf("element 1 = %d", a.At(1))
	}
}

//go:build linux

package array_test

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/internal/typelayout"
	"github.com/shmkit/shmkit/shm"
)

// arrayObject is one object of FuzzArrayHostile: its name, its memory,
// the header it was created with and its element type.
type arrayObject struct {
	name   string
	mem    []byte
	header [typelayout.HeaderSize]byte
	l      *typelayout.Layout
}

func (ob *arrayObject) lockWord() *uint64 {
	return (*uint64)(unsafe.Pointer(&ob.mem[array.OffLock]))
}

// wantOpen returns what opening the object as an array of l's type must
// give: nil, with the header's count as its length, when the header is
// intact for that type (a valid checksum over form 1 and the type's size,
// alignment and fingerprint, and a count whose elements fit in the object
// and in an int); shm.ErrCorrupt when the checksum is wrong; and otherwise
// shm.ErrCorrupt or shm.ErrWrongKind.
func (ob *arrayObject) wantOpen(l *typelayout.Layout) (wantNil, corruptOnly bool, count uint64) {
	h, _ := typelayout.Read(ob.mem)
	if typelayout.Hash(ob.mem[:typelayout.OffCheck]) != h.Check {
		return false, true, 0
	}
	hi, data := bits.Mul64(h.Size, h.Count)
	fits := hi == 0 && data <= uint64(len(ob.mem)-array.OffData) && h.Count <= math.MaxInt
	return h.Form == array.FormArray && h.Size == l.Size && uint64(h.Align) == l.Align && h.Fingerprint == l.Fingerprint && fits, false, h.Count
}

// arrayFuzz is one run of FuzzArrayHostile: an Array of int64 (atomic
// words), one of [3]uint16 (plain copies of 6 bytes) and one of struct{}
// (no bytes at all), each with its handle.
type arrayFuzz struct {
	t    *testing.T
	seg  *shm.Segment
	obj  [3]arrayObject
	arrs [3]fuzzArray
}

// fuzzArray is what FuzzArrayHostile does with each of its arrays.
type fuzzArray interface {
	at(o *testutil.FuzzInput)
	set(o *testutil.FuzzInput)
	update(o *testutil.FuzzInput)
	updatePanics()
	open(o *testutil.FuzzInput)
	slice()
	length() int
}

// arr drives one Array[T] and checks it against the object's memory.
type arr[T comparable] struct {
	z     *arrayFuzz
	k     int // index in z.obj
	a     *array.Array[T]
	value func(o *testutil.FuzzInput) T // a value to store, from the input
}

func (x *arr[T]) ob() *arrayObject { return &x.z.obj[x.k] }

// elem returns element i as the object's memory holds it.
func (x *arr[T]) elem(i int) T {
	var v T
	size := int(unsafe.Sizeof(v))
	if size == 0 {
		return v
	}
	p := unsafe.Pointer(&x.ob().mem[array.OffData+i*size])
	switch size {
	case 8:
		w := atomic.LoadUint64((*uint64)(p))
		return *(*T)(unsafe.Pointer(&w))
	}
	return *(*T)(p)
}

// index returns an index below Len from the input, or -1 if the array is
// empty.
func (x *arr[T]) index(o *testutil.FuzzInput) int {
	n := x.a.Len()
	if n == 0 {
		return -1
	}
	return int(o.U64() % uint64(n))
}

func (x *arr[T]) at(o *testutil.FuzzInput) {
	t := x.z.t
	if o.Byte()%8 == 0 {
		// One past the end: the documented panic, whatever the memory.
		n := x.a.Len()
		want := fmt.Sprintf("array: index out of range [%d] with length %d", n, n)
		msg, _ := testutil.Catch(func() { x.a.At(n) })
		if msg != want {
			t.Fatalf("%s: At(Len()) panicked with %q, want %q", x.ob().name, msg, want)
		}
		return
	}
	i := x.index(o)
	if i < 0 {
		return
	}
	if got, want := x.a.At(i), x.elem(i); got != want {
		t.Fatalf("%s: At(%d) = %v, memory holds %v", x.ob().name, i, got, want)
	}
}

func (x *arr[T]) set(o *testutil.FuzzInput) {
	i := x.index(o)
	if i < 0 {
		return
	}
	v := x.value(o)
	x.a.Set(i, v)
	if got := x.elem(i); got != v || x.a.At(i) != v {
		x.z.t.Fatalf("%s: Set(%d, %v) left %v", x.ob().name, i, v, got)
	}
}

// letGo is the peer releasing the array's lock, which it may hold or have
// scribbled on: Update waits for the lock, without a context, for as long
// as a live holder keeps it.
func (x *arr[T]) letGo() { atomic.StoreUint64(x.ob().lockWord(), 0) }

func (x *arr[T]) checkUnlocked(what string) {
	x.z.t.Helper()
	if v := atomic.LoadUint64(x.ob().lockWord()); v != 0 {
		x.z.t.Fatalf("%s: %s left the lock word %#x", x.ob().name, what, v)
	}
}

func (x *arr[T]) update(o *testutil.FuzzInput) {
	x.letGo()
	i := x.index(o)
	v := x.value(o)
	x.a.Update(func(s []T) {
		if len(s) != x.a.Len() || cap(s) != len(s) {
			x.z.t.Fatalf("%s: Update gave a slice of length %d, capacity %d; Len is %d", x.ob().name, len(s), cap(s), x.a.Len())
		}
		if i >= 0 {
			s[i] = v
		}
	})
	if i >= 0 && x.elem(i) != v {
		x.z.t.Fatalf("%s: an Update that set element %d to %v left %v", x.ob().name, i, v, x.elem(i))
	}
	x.checkUnlocked("Update")
}

func (x *arr[T]) updatePanics() {
	x.letGo()
	msg, _ := testutil.Catch(func() { x.a.Update(func([]T) { panic("fuzz") }) })
	if msg != "fuzz" {
		x.z.t.Fatalf("%s: Update's function panicked with \"fuzz\"; Update panicked with %q", x.ob().name, msg)
	}
	x.checkUnlocked("an Update that panicked")
}

func (x *arr[T]) slice() {
	s := x.a.Slice()
	if len(s) != x.a.Len() {
		x.z.t.Fatalf("%s: Slice has %d elements, Len is %d", x.ob().name, len(s), x.a.Len())
	}
	if len(s) > 0 && unsafe.Sizeof(s[0]) > 0 && unsafe.Pointer(&s[0]) != unsafe.Pointer(&x.ob().mem[array.OffData]) {
		x.z.t.Fatalf("%s: Slice starts at %p, the elements at %p", x.ob().name, &s[0], &x.ob().mem[array.OffData])
	}
}

// open opens the object as an array of T, and goes on with the handle it
// gets; or, with the input's choice, as one of another type.
func (x *arr[T]) open(o *testutil.FuzzInput) {
	if o.Byte()%2 == 0 {
		a, err := array.Open[T](x.z.seg, x.ob().name)
		if x.z.checkOpen("Open", x.k, x.ob().l, err, func() int { return a.Len() }) {
			x.a = a
		}
		return
	}
	switch o.Byte() % 5 {
	case 0:
		a, err := array.Open[uint64](x.z.seg, x.ob().name)
		x.z.checkOpen("Open[uint64]", x.k, layoutOf[uint64](x.z.t), err, func() int { return a.Len() })
	case 1:
		a, err := array.Open[int32](x.z.seg, x.ob().name)
		x.z.checkOpen("Open[int32]", x.k, layoutOf[int32](x.z.t), err, func() int { return a.Len() })
	case 2:
		a, err := array.Open[[6]byte](x.z.seg, x.ob().name)
		x.z.checkOpen("Open[[6]byte]", x.k, layoutOf[[6]byte](x.z.t), err, func() int { return a.Len() })
	case 3:
		a, err := array.Open[struct{}](x.z.seg, x.ob().name)
		x.z.checkOpen("Open[struct{}]", x.k, layoutOf[struct{}](x.z.t), err, func() int { return a.Len() })
	case 4:
		a, err := array.Open[[0]int64](x.z.seg, x.ob().name)
		x.z.checkOpen("Open[[0]int64]", x.k, layoutOf[[0]int64](x.z.t), err, func() int { return a.Len() })
	}
}

func layoutOf[T any](t *testing.T) *typelayout.Layout {
	l, err := typelayout.Of[T]()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// checkOpen fails the test unless err is what opening object k as an
// array of l's type must give (wantOpen), and, on success, the array has
// the header's count of elements. It reports whether the open succeeded.
func (z *arrayFuzz) checkOpen(what string, k int, l *typelayout.Layout, err error, length func() int) bool {
	z.t.Helper()
	ob := &z.obj[k]
	wantNil, corruptOnly, count := ob.wantOpen(l)
	var se *shm.Error
	named := errors.As(err, &se) && se.Object == ob.name
	h, _ := typelayout.Read(ob.mem)
	switch {
	case wantNil && err != nil:
		z.t.Fatalf("%s of %q with header %+v = %v", what, ob.name, h, err)
	case wantNil && uint64(length()) != count:
		z.t.Fatalf("%s of %q with header %+v: Len = %d", what, ob.name, h, length())
	case wantNil:
	case corruptOnly && (!errors.Is(err, shm.ErrCorrupt) || !named):
		z.t.Fatalf("%s of %q with a bad checksum, header %+v = %v; want ErrCorrupt naming it", what, ob.name, h, err)
	case !named || !errors.Is(err, shm.ErrCorrupt) && !errors.Is(err, shm.ErrWrongKind):
		z.t.Fatalf("%s of %q with header %+v = %v; want ErrCorrupt or ErrWrongKind naming it", what, ob.name, h, err)
	}
	return err == nil
}

// rewriteHeader is the peer rewriting one field of an object's header with
// a valid checksum, restoring the header the object was created with, or
// copying another object's header.
func (z *arrayFuzz) rewriteHeader(o *testutil.FuzzInput) {
	ob := &z.obj[o.Byte()%3]
	h, _ := typelayout.Read(ob.mem)
	switch o.Byte() % 7 {
	case 0:
		h.Form = uint32(o.Byte() % 4)
	case 1:
		h.Align = [...]uint32{0, 1, 2, 3, 4, 8, 16, 1 << 31}[o.Byte()%8]
	case 2:
		h.Size = o.Pick(0, 2, 6, 8, 12, 1<<63, ^uint64(0)-7)
	case 3:
		h.Count = o.Pick(0, 1, 2, 8, 9, 1<<32, 1<<63, ^uint64(0), math.MaxInt64, math.MaxInt64/8)
	case 4:
		h.Fingerprint = o.Pick(z.obj[0].l.Fingerprint, z.obj[1].l.Fingerprint, z.obj[2].l.Fingerprint)
	case 5:
		copy(ob.mem, ob.header[:])
		return
	case 6:
		copy(ob.mem, z.obj[o.Byte()%3].header[:])
		return
	}
	typelayout.Put(ob.mem, h)
}

// FuzzArrayHostile drives three Arrays (of int64, read and written with
// atomic words; of [3]uint16, plain copies; of struct{}, no bytes) while a
// "peer" writes arbitrary words into their objects between operations:
// the type header (also rewritten with a valid checksum, as a peer that
// knows the format would: counts beyond the object or beyond an int,
// sizes, alignments, forms, fingerprints), the lock word and the elements.
// At and Set within Len must read and write the object's own elements,
// Update must hand over exactly the elements and release the lock, and
// Open must succeed, with the header's count, exactly when the header is
// sound for the type, and otherwise fail with shm.ErrCorrupt or
// shm.ErrWrongKind naming the object. Nothing may panic but At one past
// the end, as documented.
func FuzzArrayHostile(f *testing.F) {
	f.Add([]byte{3, 2, 1, 2, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9, 4, 1, 1, 0, 0, 0, 0, 0, 0, 0, 7, 7, 7, 7, 7, 7, 7, 7, 5, 0, 0, 6, 0, 7, 1, 2, 2, 0, 8, 2, 5, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 2})                                       // every operation
	f.Add([]byte{3, 3, 3, 1, 0, 0, 3, 4, 5, 0, 0, 1, 0, 0, 3, 6, 5, 0, 0, 1, 0, 0, 5, 5, 0, 0, 1, 0, 0, 3, 0, 5, 0, 0, 2, 0, 1, 3, 0, 1, 0, 0, 5, 5, 0, 0})                                                                                                                                          // counts 9 (beyond the object), 2^63, 0; restored
	f.Add([]byte{1, 1, 2, 1, 0, 2, 3, 8, 5, 2, 0, 2, 2, 1, 57, 48, 0, 0, 0, 0, 0, 0, 3, 2, 0, 0, 0, 0, 0, 0, 0, 64, 6, 2, 4, 2, 7, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 3, 9, 5, 2, 0, 2, 2, 0})                                                                                                            // struct{} with counts 2^63-1 and 2^63/8
	f.Add([]byte{2, 2, 2, 1, 0, 0, 1, 3, 5, 0, 0, 1, 0, 0, 1, 5, 5, 0, 0, 1, 0, 1, 2, 0, 5, 1, 0, 1, 0, 1, 6, 0, 5, 1, 0, 1, 0, 1, 5, 5, 1, 1, 4})                                                                                                                                                   // alignment 3 and 8, size 0, another type's header
	f.Add([]byte{2, 2, 2, 1, 0, 0, 4, 1, 5, 0, 0, 5, 0, 1, 0, 1, 0, 2, 4, 0, 5, 2, 0, 5, 2, 1, 3, 5, 2, 1, 4})                                                                                                                                                                                       // other types' fingerprints
	f.Add([]byte{4, 4, 4, 0, 0, 16, 8, 7, 6, 5, 4, 3, 2, 1, 4, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 7, 0, 0, 1, 16, 255, 255, 255, 255, 255, 255, 255, 255, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 7, 1, 0, 2, 16, 255, 255, 255, 255, 255, 255, 255, 255, 4, 2, 7, 2}) // lock words scribbled; Updates that panic
	f.Add([]byte{8, 8, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255, 5, 0, 0, 0, 1, 14, 255, 255, 255, 255, 255, 255, 255, 255, 5, 1, 0, 0, 2, 2, 255, 255, 255, 255, 255, 255, 255, 255, 5, 2, 0, 1, 0, 1, 5, 5, 1, 0})                                                                       // header bytes all ones
	var all []byte                                                                                                                                                                                                                                                                                   // all ones over every object, then every operation
	for obj := byte(0); obj < 3; obj++ {
		for off := byte(0); off < 50; off++ {
			all = append(all, 0, obj, off, 255, 255, 255, 255, 255, 255, 255, 255)
		}
	}
	f.Add(append([]byte{8, 8, 8}, append(all, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 5, 0, 0, 5, 1, 0, 5, 2, 0, 6, 0, 7, 1, 8, 2)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		seg := testutil.Segment(t, 1<<16)
		o := testutil.NewFuzzInput(in)
		z := &arrayFuzz{t: t, seg: seg}
		a, err := array.New[int64](seg, "a", o.Byte()%9)
		if err != nil {
			t.Fatal(err)
		}
		s, err := array.New[[3]uint16](seg, "s", o.Byte()%9)
		if err != nil {
			t.Fatal(err)
		}
		e, err := array.New[struct{}](seg, "e", o.Byte()%9)
		if err != nil {
			t.Fatal(err)
		}
		z.obj[0] = arrayObject{name: "a", l: layoutOf[int64](t)}
		z.obj[1] = arrayObject{name: "s", l: layoutOf[[3]uint16](t)}
		z.obj[2] = arrayObject{name: "e", l: layoutOf[struct{}](t)}
		for k := range z.obj {
			z.obj[k].mem, _ = seg.Lookup(z.obj[k].name, shm.KindArray)
			copy(z.obj[k].header[:], z.obj[k].mem)
		}
		z.arrs[0] = &arr[int64]{z: z, k: 0, a: a, value: func(o *testutil.FuzzInput) int64 { return int64(o.U64()) }}
		z.arrs[1] = &arr[[3]uint16]{z: z, k: 1, a: s, value: func(o *testutil.FuzzInput) [3]uint16 {
			w := o.U64()
			return [3]uint16{uint16(w), uint16(w >> 16), uint16(w >> 32)}
		}}
		z.arrs[2] = &arr[struct{}]{z: z, k: 2, a: e, value: func(*testutil.FuzzInput) struct{} { return struct{}{} }}
		for o.More() {
			op := o.Byte() % 10
			k := o.Byte() % 3
			switch op {
			case 0, 9:
				// The peer writes a word anywhere in an object, at a
				// multiple of 4 that need not be one of 8.
				mem := z.obj[k].mem
				if len(mem) > 8 {
					ne.PutUint64(mem[o.Byte()*4%(len(mem)-7):], o.U64())
				}
			case 1:
				z.rewriteHeader(o)
			case 2:
				z.arrs[k].at(o)
			case 3:
				z.arrs[k].set(o)
			case 4:
				z.arrs[k].update(o)
			case 5:
				z.arrs[k].open(o)
			case 6:
				z.arrs[k].slice()
			case 7:
				z.arrs[k].updatePanics()
			case 8:
				if l := z.arrs[k].length(); l < 0 {
					t.Fatalf("%s: Len = %d", z.obj[k].name, l)
				}
			}
		}
	})
}

func (x *arr[T]) length() int { return x.a.Len() }

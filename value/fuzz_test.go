//go:build linux

package value_test

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/internal/typelayout"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/value"
)

// fuzzRec is the T of the fuzzed seqlock Value: 32 bytes, no padding.
type fuzzRec struct {
	A, B int64
	C    [4]uint32
}

func recOf(o *testutil.FuzzInput) fuzzRec {
	return fuzzRec{A: int64(o.U64()), B: int64(o.U64()), C: [4]uint32{uint32(o.U64()), uint32(o.Byte()), 0, ^uint32(0)}}
}

// valueObject is one object of FuzzValueHostile: its name, its memory, the
// header it was created with, and the form and type it was created for.
type valueObject struct {
	name   string
	mem    []byte
	header [typelayout.HeaderSize]byte
	form   uint32
	l      *typelayout.Layout
}

// valueFuzz is one run of FuzzValueHostile: a seqlock Value "r" of a
// 32-byte struct, a one-word Value "w" of an int64, an Int64 "i", and a
// handle on each.
type valueFuzz struct {
	t   *testing.T
	seg *shm.Segment
	r   *value.Value[fuzzRec]
	w   *value.Value[int64]
	i   *value.Int64
	obj [3]valueObject
}

func layoutOf[T any](t *testing.T) *typelayout.Layout {
	l, err := typelayout.Of[T]()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (z *valueFuzz) seq() uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&z.obj[0].mem[value.OffSeq])))
}

// slot returns the value in slot k of "r".
func (z *valueFuzz) slot(k int) (x fuzzRec) {
	p := unsafe.Pointer(&z.obj[0].mem[value.OffData+k*int(unsafe.Sizeof(x))])
	w := (*[4]uint64)(p)
	for j := range w {
		(*[4]uint64)(unsafe.Pointer(&x))[j] = atomic.LoadUint64(&w[j])
	}
	return x
}

// current is what a read of "r" must return: the slot the phase of its
// sequence names (slot 1 in phase 1, slot 0 otherwise), complete whatever
// the slots and the sequence hold.
func (z *valueFuzz) current() fuzzRec {
	if z.seq()&3 == 1 {
		return z.slot(1)
	}
	return z.slot(0)
}

func (z *valueFuzz) word(k int) *int64 {
	return (*int64)(unsafe.Pointer(&z.obj[k].mem[value.OffData]))
}

func (z *valueFuzz) lockWord(k int) *uint64 {
	return (*uint64)(unsafe.Pointer(&z.obj[k].mem[value.OffLock]))
}

// letGo is the peer releasing the lock of object k, which it may hold or
// have scribbled on. Store and Update wait for the lock without a context
// for as long as a live holder keeps it, as they must; the checks that
// follow need it free.
func (z *valueFuzz) letGo(k int) { atomic.StoreUint64(z.lockWord(k), 0) }

// checkUnlocked fails the test unless the lock of object k was released.
func (z *valueFuzz) checkUnlocked(what string, k int) {
	z.t.Helper()
	if v := atomic.LoadUint64(z.lockWord(k)); v != 0 {
		z.t.Fatalf("%s left the lock word %#x", what, v)
	}
}

// FuzzValueHostile drives a Value of a 32-byte struct (read through its
// seqlock), a Value of an int64 and an Int64 while a "peer" writes
// arbitrary words into their objects between operations: the type header
// (also rewritten with a valid checksum, as a peer that knows the format
// would), the lock word, the seqlock sequence and the data slots. Load
// must return, without blocking, the complete slot the sequence's phase
// names, even when the sequence moves during every read attempt (it then
// reads under the lock); Store and Update must leave both slots holding
// the new value in phase 0; Open must succeed exactly when the header is
// intact for the type asked for and otherwise fail with shm.ErrCorrupt (a
// damaged header) or shm.ErrWrongKind (a sound header for another type or
// form), naming the object.
func FuzzValueHostile(f *testing.F) {
	f.Add([]byte{2, 4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 2, 5, 2, 6, 0, 6, 1, 3, 3, 3, 3, 3, 3, 3, 3, 6, 2, 7, 7, 1, 5, 5, 5, 5, 5, 5, 5, 5, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 3, 0, 0, 0, 0, 0, 0, 0, 0, 8, 9, 0, 3, 5, 4, 11, 2})             // every operation once
	f.Add([]byte{10, 1, 2, 10, 2, 2, 4, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 2, 10, 3, 5, 1, 10, 5, 2, 10, 6, 4, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 2, 10, 7, 2, 5, 4}) // sequences in phases 1, 2 and 3, all ones, wrapped
	f.Add([]byte{4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 99, 4, 3, 100, 4, 3, 255, 1, 3, 5, 2, 10, 2, 3, 5, 1, 3, 5, 2, 2})                                                                                                                                    // the sequence moves during 99, 100 and 255 attempts
	f.Add([]byte{1, 0, 0, 3, 8, 1, 0, 5, 8, 1, 1, 3, 2, 8, 1, 1, 5, 8, 1, 1, 0, 2, 8, 9, 2, 9, 3})                                                                                                                                                                                                      // header rewritten: an unknown form, count 2, restored; Int64's form on "w"
	f.Add([]byte{1, 0, 1, 3, 8, 1, 0, 1, 1, 8, 1, 2, 2, 5, 8, 1, 2, 5, 9, 0, 9, 1, 9, 2, 9, 3, 9, 4, 9, 5})                                                                                                                                                                                             // alignment 3, then 1; size 1<<63; every other type
	f.Add([]byte{1, 1, 6, 2, 8, 9, 2, 1, 2, 6, 1, 8, 9, 3, 1, 0, 6, 1, 9, 0, 8, 2})                                                                                                                                                                                                                     // headers copied between objects
	f.Add([]byte{0, 0, 16, 255, 255, 255, 255, 255, 255, 255, 255, 11, 0, 1, 16, 1, 1, 1, 1, 1, 1, 1, 1, 6, 1, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 34, 7, 7, 7, 7, 7, 7, 7, 7, 2, 0, 0, 42, 8, 8, 8, 8, 8, 8, 8, 8, 10, 1, 2, 5, 3})                                                                          // lock words and slots scribbled; an Update that panics
	f.Add([]byte{0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255, 8, 0, 1, 14, 255, 255, 255, 255, 255, 255, 255, 255, 8, 1, 2, 2, 7, 0, 16, 0, 0, 0, 0, 0, 0, 8, 9, 3})                                                                                                                                // header bytes all ones; a size beyond the object
	f.Add([]byte{0, 0, 34, 90, 90, 90, 90, 90, 90, 90, 90, 10, 1, 2, 5, 9, 2, 10, 2, 0, 0, 38, 165, 165, 165, 165, 165, 165, 165, 165, 2, 4, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2})                                                                             // a dead writer's phase over scribbled slots, then repaired
	var all []byte                                                                                                                                                                                                                                                                                      // all ones over the first 200 bytes of every object, then every operation
	for obj := byte(0); obj < 3; obj++ {
		for off := byte(0); off < 50; off++ {
			all = append(all, 0, obj, off, 255, 255, 255, 255, 255, 255, 255, 255)
		}
	}
	f.Add(append(all, 2, 3, 101, 3, 4, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 5, 1, 6, 0, 6, 1, 1, 1, 1, 1, 1, 1, 1, 1, 6, 2, 1, 7, 1, 1, 1, 1, 1, 1, 1, 1, 1, 8, 9, 0, 9, 2, 11))
	f.Fuzz(func(t *testing.T, in []byte) {
		seg := testutil.Segment(t, 1<<16)
		var err error
		defer value.SetReadHook(nil)
		z := &valueFuzz{t: t, seg: seg}
		if z.r, err = value.New[fuzzRec](seg, "r"); err != nil {
			t.Fatal(err)
		}
		if z.w, err = value.New[int64](seg, "w"); err != nil {
			t.Fatal(err)
		}
		if z.i, err = value.NewInt64(seg, "i"); err != nil {
			t.Fatal(err)
		}
		z.obj[0] = valueObject{name: "r", form: value.FormValue, l: layoutOf[fuzzRec](t)}
		z.obj[1] = valueObject{name: "w", form: value.FormValue, l: layoutOf[int64](t)}
		z.obj[2] = valueObject{name: "i", form: value.FormInt64, l: layoutOf[int64](t)}
		for k := range z.obj {
			z.obj[k].mem, _ = seg.Lookup(z.obj[k].name, shm.KindValue)
			copy(z.obj[k].header[:], z.obj[k].mem)
		}
		o := testutil.NewFuzzInput(in)
		for o.More() {
			switch o.Byte() % 14 {
			case 0, 12, 13:
				// The peer writes a word anywhere in an object, at a
				// multiple of 4 that need not be one of 8.
				mem := z.obj[o.Byte()%3].mem
				ne.PutUint64(mem[o.Byte()*4%(len(mem)-7):], o.U64())
			case 1:
				z.rewriteHeader(o)
			case 2:
				if got, want := z.r.Load(), z.current(); got != want {
					t.Fatalf("Load = %+v in phase %d, the slot holds %+v", got, z.seq()&3, want)
				}
			case 3:
				z.loadMoving(o.Byte(), uint64(o.Byte()))
			case 4:
				z.store(recOf(o))
			case 5:
				z.update(o.Byte())
			case 6:
				z.word64(o)
			case 7:
				z.int64Op(o)
			case 8:
				z.open()
			case 9:
				z.openOther(o.Byte())
			case 10:
				// The peer writes the sequence: a phase no writer leaves,
				// a dead writer's phase, or a wrapped count.
				seqs := [...]uint64{0, 1, 2, 3, 4, ^uint64(0), ^uint64(0) - 1, 1<<63 | 2}
				atomic.StoreUint64((*uint64)(unsafe.Pointer(&z.obj[0].mem[value.OffSeq])), seqs[o.Byte()%len(seqs)])
			case 11:
				z.updatePanics()
			}
		}
	})
}

// rewriteHeader is the peer rewriting one field of an object's header with
// a valid checksum, restoring the header the object was created with, or
// copying another object's header.
func (z *valueFuzz) rewriteHeader(o *testutil.FuzzInput) {
	ob := &z.obj[o.Byte()%3]
	h, _ := typelayout.Read(ob.mem)
	switch o.Byte() % 7 {
	case 0:
		h.Form = uint32(o.Byte() % 8)
	case 1:
		h.Align = [...]uint32{0, 1, 2, 3, 4, 8, 16, 1 << 31}[o.Byte()%8]
	case 2:
		h.Size = o.Pick(0, 4, 8, 32, 33, 1<<63, ^uint64(0)-7)
	case 3:
		h.Count = o.Pick(0, 1, 2, ^uint64(0), 1<<63)
	case 4:
		h.Fingerprint = o.Pick(z.obj[0].l.Fingerprint, z.obj[1].l.Fingerprint, layoutOf[[4]int64](z.t).Fingerprint)
	case 5:
		copy(ob.mem, ob.header[:])
		return
	case 6:
		copy(ob.mem, z.obj[o.Byte()%3].header[:])
		return
	}
	typelayout.Put(ob.mem, h)
}

// loadMoving reads "r" while the peer moves the sequence by delta between
// the copy and the check of each of the first n read attempts.
func (z *valueFuzz) loadMoving(n int, delta uint64) {
	seq := (*uint64)(unsafe.Pointer(&z.obj[0].mem[value.OffSeq]))
	calls := 0
	value.SetReadHook(func() {
		if calls < n {
			atomic.AddUint64(seq, delta)
		}
		calls++
	})
	z.letGo(0) // after value.SeqTries attempts Load reads under the lock
	got := z.r.Load()
	value.SetReadHook(nil)
	// The hook moves only the sequence: whichever attempt succeeded read
	// the slot that the final sequence's phase names (a phase-2 read
	// stands when the sequence moves to phase 3 or the next phase 0,
	// which name slot 0 too).
	if want := z.current(); got != want {
		z.t.Fatalf("Load with the sequence moved by %d during %d attempts = %+v, the slot holds %+v", delta, n, got, want)
	}
	if calls > value.SeqTries {
		z.t.Fatalf("Load made %d lock-free attempts, at most %d", calls, value.SeqTries)
	}
	z.checkUnlocked("Load", 0)
}

// checkStored fails the test unless "r" holds x in both slots and in phase
// 0, after a write that started at sequence s.
func (z *valueFuzz) checkStored(what string, s uint64, x fuzzRec) {
	z.t.Helper()
	// A write first finishes a dead writer's (phase 1 or 2; a phase 3 is
	// taken as 2), then moves the sequence by 4.
	switch s & 3 {
	case 1:
		s += 3
	case 2, 3:
		s = s&^3 + 4
	}
	if got, s2 := z.r.Load(), z.seq(); got != x || s2 != s+4 || z.slot(0) != x || z.slot(1) != x {
		z.t.Fatalf("%s of %+v: Load = %+v, sequence %d (want %d), slots %+v, %+v", what, x, got, s2, s+4, z.slot(0), z.slot(1))
	}
	z.checkUnlocked(what, 0)
}

func (z *valueFuzz) store(x fuzzRec) {
	z.letGo(0)
	s := z.seq()
	z.r.Store(x)
	z.checkStored("Store", s, x)
}

func (z *valueFuzz) update(k int) {
	z.letGo(0)
	s, before := z.seq(), z.current()
	var seen, x fuzzRec
	z.r.Update(func(p *fuzzRec) {
		seen = *p
		p.A += int64(k)
		p.C[k%4] ^= uint32(k) << 8
		x = *p
	})
	if seen != before {
		z.t.Fatalf("Update saw %+v, the slot held %+v", seen, before)
	}
	z.checkStored("Update", s, x)
}

// updatePanics checks that an Update whose function panics leaves "r"
// unchanged and its lock free.
func (z *valueFuzz) updatePanics() {
	z.letGo(0)
	before := z.current()
	func() {
		defer func() {
			if r := recover(); r != "fuzz" {
				z.t.Fatalf("Update's function panicked with \"fuzz\"; Update panicked with %v", r)
			}
		}()
		z.r.Update(func(p *fuzzRec) {
			p.B++
			panic("fuzz")
		})
	}()
	if got := z.r.Load(); got != before {
		z.t.Fatalf("after an Update that panicked, Load = %+v, want %+v", got, before)
	}
	z.checkUnlocked("an Update that panicked", 0)
}

// word64 drives the one-word Value "w".
func (z *valueFuzz) word64(o *testutil.FuzzInput) {
	old := atomic.LoadInt64(z.word(1))
	switch o.Byte() % 3 {
	case 0:
		if got := z.w.Load(); got != old {
			z.t.Fatalf("Value[int64].Load = %d, the word holds %d", got, old)
		}
	case 1:
		z.letGo(1)
		x := int64(o.U64())
		z.w.Store(x)
		if got := atomic.LoadInt64(z.word(1)); got != x || z.w.Load() != x {
			z.t.Fatalf("Value[int64].Store(%d) left %d", x, got)
		}
		z.checkUnlocked("Value[int64].Store", 1)
	case 2:
		z.letGo(1)
		d := int64(o.Byte())
		var seen int64
		z.w.Update(func(p *int64) { seen = *p; *p += d })
		if got := atomic.LoadInt64(z.word(1)); seen != old || got != old+d {
			z.t.Fatalf("Value[int64].Update: saw %d of %d, left %d", seen, old, got)
		}
		z.checkUnlocked("Value[int64].Update", 1)
	}
}

// int64Op drives the Int64 "i": each operation is one atomic instruction
// on the word, whatever the rest of the object holds.
func (z *valueFuzz) int64Op(o *testutil.FuzzInput) {
	p := z.word(2)
	old := atomic.LoadInt64(p)
	op := o.Byte() % 7
	x := int64(o.U64())
	var got, want, after int64
	switch op {
	case 0:
		got, want, after = z.i.Load(), old, old
	case 1:
		got, want, after = z.i.Add(x), old+x, old+x
	case 2:
		got, want, after = z.i.Swap(x), old, x
	case 3:
		cmp := old
		if x&1 != 0 {
			cmp++
		}
		swapped := z.i.CompareAndSwap(cmp, x)
		got, want, after = b2i(swapped), b2i(cmp == old), old
		if cmp == old {
			after = x
		}
	case 4:
		z.i.Store(x)
		after = x
	case 5:
		got, want, after = z.i.And(x), old, old&x
	case 6:
		got, want, after = z.i.Or(x), old, old|x
	}
	if got != want || atomic.LoadInt64(p) != after {
		z.t.Fatalf("Int64 operation %d with %d on %d = %d, left %d; want %d, %d", op, x, old, got, atomic.LoadInt64(p), want, after)
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// wantOpen returns what opening object k as form and type l must give: nil
// when its header is intact for them (a valid checksum over the form, the
// type's size, alignment and fingerprint, a count of 1, and a value that
// fits in the object), shm.ErrCorrupt when the checksum is wrong, and
// otherwise shm.ErrCorrupt or shm.ErrWrongKind.
func (z *valueFuzz) wantOpen(k int, form uint32, l *typelayout.Layout) (wantNil, corruptOnly bool) {
	mem := z.obj[k].mem
	h, _ := typelayout.Read(mem)
	if typelayout.Hash(mem[:typelayout.OffCheck]) != h.Check {
		return false, true
	}
	slot := (max(l.Size, 8) + 7) &^ 7
	if l.Size > 8 {
		slot *= 2 // the seqlock's two slots
	}
	fits := value.OffData+slot <= uint64(len(mem))
	return h.Form == form && h.Count == 1 && h.Size == l.Size && uint64(h.Align) == l.Align && h.Fingerprint == l.Fingerprint && fits, false
}

// checkOpen fails the test unless err is what opening object k as form
// and type l must give (wantOpen).
func (z *valueFuzz) checkOpen(what string, k int, form uint32, l *typelayout.Layout, err error) {
	z.t.Helper()
	wantNil, corruptOnly := z.wantOpen(k, form, l)
	var se *shm.Error
	named := errors.As(err, &se) && se.Object == z.obj[k].name
	h, _ := typelayout.Read(z.obj[k].mem)
	switch {
	case wantNil && err != nil:
		z.t.Fatalf("%s of %q with header %+v = %v", what, z.obj[k].name, h, err)
	case wantNil:
	case corruptOnly && (!errors.Is(err, shm.ErrCorrupt) || !named):
		z.t.Fatalf("%s of %q with a bad checksum, header %+v = %v; want ErrCorrupt naming it", what, z.obj[k].name, h, err)
	case !named || !errors.Is(err, shm.ErrCorrupt) && !errors.Is(err, shm.ErrWrongKind):
		z.t.Fatalf("%s of %q with header %+v = %v; want ErrCorrupt or ErrWrongKind naming it", what, z.obj[k].name, h, err)
	}
}

// open opens every object as what it was created as, and goes on with the
// handles it gets.
func (z *valueFuzz) open() {
	r, err := value.Open[fuzzRec](z.seg, "r")
	z.checkOpen("Open[fuzzRec]", 0, value.FormValue, z.obj[0].l, err)
	if err == nil {
		z.r = r
	}
	w, err := value.Open[int64](z.seg, "w")
	z.checkOpen("Open[int64]", 1, value.FormValue, z.obj[1].l, err)
	if err == nil {
		z.w = w
	}
	i, err := value.OpenInt64(z.seg, "i")
	z.checkOpen("OpenInt64", 2, value.FormInt64, z.obj[2].l, err)
	if err == nil {
		z.i = i
	}
}

// openOther opens an object as another type or form than it was created
// as; a peer that rewrote its header with a valid checksum can make that
// succeed, and the handle must then read the object's word.
func (z *valueFuzz) openOther(n int) {
	i64, rec, arr := z.obj[1].l, z.obj[0].l, layoutOf[[4]int64](z.t)
	switch n % 6 {
	case 0:
		v, err := value.Open[int64](z.seg, "r")
		z.checkOpen("Open[int64]", 0, value.FormValue, i64, err)
		if err == nil && v.Load() != atomic.LoadInt64((*int64)(unsafe.Pointer(&z.obj[0].mem[value.OffData]))) {
			z.t.Fatalf("Open[int64] of \"r\" reads another word")
		}
	case 1:
		_, err := value.Open[fuzzRec](z.seg, "w")
		z.checkOpen("Open[fuzzRec]", 1, value.FormValue, rec, err)
	case 2:
		x, err := value.OpenInt64(z.seg, "w")
		z.checkOpen("OpenInt64", 1, value.FormInt64, i64, err)
		if err == nil && x.Load() != atomic.LoadInt64(z.word(1)) {
			z.t.Fatalf("OpenInt64 of \"w\" reads another word")
		}
	case 3:
		v, err := value.Open[int64](z.seg, "i")
		z.checkOpen("Open[int64]", 2, value.FormValue, i64, err)
		if err == nil && v.Load() != atomic.LoadInt64(z.word(2)) {
			z.t.Fatalf("Open[int64] of \"i\" reads another word")
		}
	case 4:
		_, err := value.Open[[4]int64](z.seg, "r")
		z.checkOpen("Open[[4]int64]", 0, value.FormValue, arr, err)
	case 5:
		_, err := value.OpenUint64(z.seg, "i")
		z.checkOpen("OpenUint64", 2, value.FormUint64, layoutOf[uint64](z.t), err)
	}
}

// String makes fuzzRec values short in failure messages.
func (x fuzzRec) String() string { return fmt.Sprintf("{%#x %#x %#x}", x.A, x.B, x.C) }

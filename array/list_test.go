//go:build linux

package array_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/internal/typelayout"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

// record is a list element of 24 bytes: plain copies, not one word.
type record struct {
	Proc, Seq uint32
	Check     uint64
	Pad       uint64
}

func makeRecord(proc, seq int) record {
	return record{uint32(proc), uint32(seq), uint64(proc)*2654435761 ^ uint64(seq)*40503, uint64(seq)}
}

func TestListBasics(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	l, err := array.NewList[record](seg, "l", 5)
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != 0 || l.Cap() != 5 || len(l.Slice()) != 0 {
		t.Fatalf("new list: Len %d, Cap %d, Slice %d", l.Len(), l.Cap(), len(l.Slice()))
	}
	for i := range 3 {
		if idx, err := l.Append(makeRecord(0, i)); idx != i || err != nil {
			t.Fatalf("Append %d = %d, %v", i, idx, err)
		}
	}
	if idx, err := l.Extend(makeRecord(0, 3), makeRecord(0, 4)); idx != 3 || err != nil {
		t.Fatalf("Extend = %d, %v", idx, err)
	}
	if _, err := l.Append(makeRecord(0, 5)); !errors.Is(err, shm.ErrNoSpace) {
		t.Fatalf("Append to a full list = %v", err)
	}
	if l.Len() != 5 || l.At(4) != makeRecord(0, 4) {
		t.Fatalf("Len %d, At(4) %+v", l.Len(), l.At(4))
	}
	l.Set(1, makeRecord(9, 9))
	o, err := array.OpenList[record](seg, "l")
	if err != nil {
		t.Fatal(err)
	}
	if s := o.Slice(); len(s) != 5 || cap(s) != 5 || s[1] != makeRecord(9, 9) || s[2] != makeRecord(0, 2) {
		t.Fatalf("Slice through another handle: %+v", s)
	}
	l.Truncate(7) // longer: unchanged
	l.Truncate(2)
	if o.Len() != 2 || len(o.Slice()) != 2 {
		t.Fatalf("after Truncate(2): Len %d", o.Len())
	}
	if _, err := l.Extend(makeRecord(1, 0), makeRecord(1, 1), makeRecord(1, 2), makeRecord(1, 3)); !errors.Is(err, shm.ErrNoSpace) || l.Len() != 2 {
		t.Fatalf("Extend beyond the capacity = %v, Len %d: all or none", err, l.Len())
	}
	if idx, err := o.Append(makeRecord(1, 0)); idx != 2 || err != nil || l.At(2) != makeRecord(1, 0) {
		t.Fatalf("Append after Truncate = %d, %v, %+v", idx, err, l.At(2))
	}
	for _, c := range []struct {
		f    func()
		want string
	}{
		{func() { l.At(3) }, "array: index out of range [3] with length 3"},
		{func() { l.At(-1) }, "array: index out of range [-1]"},
		{func() { l.Set(3, record{}) }, "array: index out of range [3] with length 3"},
		{func() { l.Truncate(-1) }, "array: Truncate to a negative length -1"},
	} {
		func() {
			defer func() {
				if r := recover(); r != c.want {
					t.Errorf("panic %v, want %q", r, c.want)
				}
			}()
			c.f()
		}()
	}

	// Word-sized elements, and an empty list.
	w, err := array.NewList[int64](seg, "w", 3)
	if err != nil {
		t.Fatal(err)
	}
	w.Append(7)
	w.Set(0, 8)
	if w.At(0) != 8 {
		t.Fatal(w.At(0))
	}
	if n := testing.AllocsPerRun(100, func() { w.Truncate(0); w.Append(1) }); n != 0 {
		t.Fatalf("Append allocates %v times", n)
	}
	e, err := array.NewList[int32](seg, "e", 0)
	if err != nil || e.Len() != 0 || e.Cap() != 0 {
		t.Fatal(err)
	}
	if _, err := e.Append(1); !errors.Is(err, shm.ErrNoSpace) {
		t.Fatalf("Append to a list of capacity 0 = %v", err)
	}

	// Opening as another type, or another kind.
	if _, err := array.OpenList[int32](seg, "w"); !errors.Is(err, shm.ErrWrongKind) {
		t.Fatalf("OpenList of another type = %v", err)
	}
	array.New[int64](seg, "a", 3)
	if _, err := array.OpenList[int64](seg, "a"); !errors.Is(err, shm.ErrWrongKind) {
		t.Fatalf("OpenList of an array = %v", err)
	}
	if _, err := array.NewList[string](seg, "s", 3); !errors.Is(err, array.ErrUnsupportedType) {
		t.Fatalf("NewList[string] = %v", err)
	}
	if _, err := array.NewList[int64](seg, "neg", -1); err == nil {
		t.Fatal("NewList of capacity -1 succeeded")
	}
	if _, err := array.NewList[int64](seg, "big", 1<<40); !errors.Is(err, shm.ErrNoSpace) {
		t.Fatalf("NewList larger than the segment = %v", err)
	}
}

// TestListGoroutines: goroutines of one process append at once; each index
// is returned once and holds what its appender appended.
func TestListGoroutines(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	const gs, n = 4, 2000
	l, err := array.NewList[uint64](seg, "l", gs*n)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, gs)
	for g := range gs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				x := uint64(g)<<32 | uint64(i)
				idx, err := l.Append(x)
				if err != nil {
					errs <- err
					return
				}
				if got := l.At(idx); got != x {
					errs <- fmt.Errorf("At(%d) = %#x, appended %#x", idx, got, x)
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
	checkDistinct(t, l.Slice(), gs, n, func(x uint64) (int, int) { return int(x >> 32), int(uint32(x)) })
}

// checkDistinct checks that s holds each of procs × n elements exactly
// once, and each process's in the order it appended them.
func checkDistinct[T any](t *testing.T, s []T, procs, n int, id func(T) (proc, seq int)) {
	t.Helper()
	if len(s) != procs*n {
		t.Fatalf("%d elements, want %d", len(s), procs*n)
	}
	seen := make([]bool, procs*n)
	last := make([]int, procs)
	for i := range last {
		last[i] = -1
	}
	for i, x := range s {
		p, q := id(x)
		if p < 0 || p >= procs || q < 0 || q >= n {
			t.Fatalf("element %d is %+v", i, x)
		}
		if seen[p*n+q] {
			t.Fatalf("element %d/%d appears twice", p, q)
		}
		seen[p*n+q] = true
		if q <= last[p] {
			t.Fatalf("process %d's element %d at index %d, after its element %d", p, q, i, last[p])
		}
		last[p] = q
	}
}

var childListAppend = spawn.Register("TestListAppendProcesses", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	sh, err := openShared(seg)
	if err != nil {
		return err
	}
	l, err := array.OpenList[record](seg, "l")
	if err != nil {
		return err
	}
	id, _ := strconv.Atoi(c.Args()[0])
	n, _ := strconv.Atoi(c.Args()[1])
	procs, _ := strconv.Atoi(c.Args()[2])
	if err := testutil.StartBarrier(&sh.arrived, procs); err != nil {
		return err
	}
	for i := range n {
		x := makeRecord(id, i)
		idx, err := l.Append(x)
		if err != nil {
			return err
		}
		if got := l.At(idx); got != x {
			return fmt.Errorf("At(%d) = %+v right after appending %+v", idx, got, x)
		}
		if l.Len() <= idx {
			return fmt.Errorf("Len %d after appending at %d", l.Len(), idx)
		}
	}
	return nil
})

// TestListAppendProcesses: 4 processes × 10 000 appends at once give 40 000
// distinct elements, each process's in its order.
func TestListAppendProcesses(t *testing.T) {
	const procs = 4
	n := testutil.Size(10_000, 5)
	seg := testutil.Segment(t, 4<<20)
	l, err := array.NewList[record](seg, "l", procs*n)
	if err != nil {
		t.Fatal(err)
	}
	newShared(t, seg)
	var ps []*spawn.Process
	for id := range procs {
		ps = append(ps, testutil.Start(t, childListAppend, seg, strconv.Itoa(id), strconv.Itoa(n), strconv.Itoa(procs)))
	}
	for _, p := range ps {
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	s := l.Slice()
	for i, x := range s {
		if x != makeRecord(int(x.Proc), int(x.Seq)) {
			t.Fatalf("element %d is torn: %+v", i, x)
		}
	}
	checkDistinct(t, s, procs, n, func(x record) (int, int) { return int(x.Proc), int(x.Seq) })
	if _, err := l.Append(record{}); !errors.Is(err, shm.ErrNoSpace) {
		t.Fatalf("Append to the full list = %v", err)
	}
}

// childListDie appends args[0] elements, then stops in the middle of one
// more Append or Extend (args[1]), after writing the elements and before
// publishing them, until it is killed.
var childListDie = spawn.Register("TestListCrash", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	sh, err := openShared(seg)
	if err != nil {
		return err
	}
	l, err := array.OpenList[record](seg, "l")
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(c.Args()[0])
	for i := range n {
		if _, err := l.Append(makeRecord(1, i)); err != nil {
			return err
		}
	}
	array.SetAppendHook(func() {
		atomic.StoreUint32(&sh.flag, 1)
		<-ctx.Done() // killed here, holding the lock
	})
	if c.Args()[1] == "extend" {
		l.Extend(makeRecord(1, n), makeRecord(1, n+1))
	} else {
		l.Append(makeRecord(1, n))
	}
	return errors.New("not killed")
})

// TestListCrash: a process killed between writing an element and
// publishing it leaves the list as it was: Len does not cover the element,
// the next Append takes the dead process's lock over and gets its index.
func TestListCrash(t *testing.T) {
	for _, op := range []string{"append", "extend"} {
		t.Run(op, func(t *testing.T) {
			seg := testutil.Segment(t, 1<<20)
			l, err := array.NewList[record](seg, "l", 10)
			if err != nil {
				t.Fatal(err)
			}
			sh := newShared(t, seg)
			p := testutil.Start(t, childListDie, seg, "3", op)
			testutil.WaitFor(t, testutil.Timeout, "the appender to stop before publishing", func() bool { return atomic.LoadUint32(&sh.flag) == 1 })
			p.Kill()
			p.Wait()
			if l.Len() != 3 || len(l.Slice()) != 3 {
				t.Fatalf("Len %d after an appender died before publishing, want 3", l.Len())
			}
			if idx, err := l.Append(makeRecord(2, 0)); idx != 3 || err != nil {
				t.Fatalf("Append after the death = %d, %v; want index 3", idx, err)
			}
			want := []record{makeRecord(1, 0), makeRecord(1, 1), makeRecord(1, 2), makeRecord(2, 0)}
			if got := l.Slice(); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("elements %+v, want %+v", got, want)
			}
		})
	}
}

// TestListCorrupt: a damaged header fails OpenList with ErrCorrupt naming
// the field; a length word beyond the capacity reads as the capacity, and
// Append reports it, until Truncate stores a good one.
func TestListCorrupt(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	l, err := array.NewList[int64](seg, "l", 4)
	if err != nil {
		t.Fatal(err)
	}
	l.Append(1)
	mem, err := seg.Lookup("l", shm.KindList)
	if err != nil {
		t.Fatal(err)
	}
	objOff := testutil.ObjectOffset(t, seg, "l")
	for _, c := range []struct {
		off   int
		val   uint64
		field string
	}{
		{typelayout.OffForm, 2, "form"},
		{typelayout.OffCount, 1 << 20, "count"},
		{typelayout.OffCount, 3, "check"},
		{typelayout.OffAlign, 3, "align"},
	} {
		saved := binary.NativeEndian.Uint64(mem[c.off:])
		if c.off == typelayout.OffForm || c.off == typelayout.OffAlign {
			binary.NativeEndian.PutUint32(mem[c.off:], uint32(c.val))
		} else {
			binary.NativeEndian.PutUint64(mem[c.off:], c.val)
		}
		_, err := array.OpenList[int64](seg, "l")
		var se *shm.Error
		if !errors.Is(err, shm.ErrCorrupt) || !errors.As(err, &se) || se.Field != c.field || se.Object != "l" {
			t.Errorf("OpenList with word %d = %d: %v, want ErrCorrupt naming %s", c.off, c.val, err, c.field)
		}
		binary.NativeEndian.PutUint64(mem[c.off:], saved)
	}
	binary.NativeEndian.PutUint64(mem[array.OffListLen:], 1<<40)
	if l.Len() != 4 || len(l.Slice()) != 4 {
		t.Fatalf("Len %d with a length word beyond the capacity", l.Len())
	}
	_, err = l.Append(2)
	var se *shm.Error
	if !errors.Is(err, shm.ErrCorrupt) || !errors.As(err, &se) || se.Field != "len" || se.Offset != objOff+array.OffListLen || !strings.Contains(err.Error(), "length 1099511627776") {
		t.Fatalf("Append with a bad length = %v", err)
	}
	l.Truncate(1)
	if idx, err := l.Append(2); idx != 1 || err != nil || l.At(0) != 1 || l.At(1) != 2 {
		t.Fatalf("Append after Truncate = %d, %v", idx, err)
	}
}

//go:build linux

package value_test

import (
	"context"
	"errors"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
	"github.com/shmkit/shmkit/value"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// shared holds the handshake words the tests use beside the objects under
// test; every access is atomic.
type shared struct {
	arrived uint32 // start barrier: processes that have arrived
	flag    uint32 // test-specific handshakes
	stop    uint32 // 1: children stop
	_       uint32
	count   uint64 // test-specific counts
}

func newShared(tb testing.TB, seg *shm.Segment) *shared {
	return testutil.Overlay[shared](tb, seg, "shared")
}

func openShared(seg *shm.Segment) (*shared, error) {
	return testutil.OpenOverlay[shared](seg, "shared")
}

// count runs two children of child, each making n increments of the
// segment's "counter" (childArgs gives them n and procs), waits for them,
// and returns procs and n.
func count(t *testing.T, seg *shm.Segment, child *spawn.Func) (procs, n int) {
	newShared(t, seg)
	procs, n = 2, testutil.Size(100_000, 10)
	testutil.WaitAll(t, testutil.StartN(t, procs, child, seg, strconv.Itoa(n), strconv.Itoa(procs))...)
	return procs, n
}

// childArgs opens what every counting child needs: the segment's shared
// words and its arguments n and procs.
func childArgs(c *spawn.Child) (seg *shm.Segment, sh *shared, n, procs int, err error) {
	seg = c.Segments()[0]
	if sh, err = openShared(seg); err != nil {
		return
	}
	if n, err = strconv.Atoi(c.Args()[0]); err != nil {
		return
	}
	procs, err = strconv.Atoi(c.Args()[1])
	return
}

var childCounterUpdate = spawn.Register("TestCounterUpdate", func(ctx context.Context, c *spawn.Child) error {
	seg, sh, n, procs, err := childArgs(c)
	if err != nil {
		return err
	}
	v, err := value.Open[int64](seg, "counter")
	if err != nil {
		return err
	}
	if err := testutil.StartBarrier(&sh.arrived, procs); err != nil {
		return err
	}
	for range n {
		v.Update(func(x *int64) { *x++ })
	}
	return nil
})

// TestCounterUpdate is the classic shared counter: processes increment one
// Value under its lock, and no increment is lost.
func TestCounterUpdate(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	v, err := value.New[int64](seg, "counter")
	if err != nil {
		t.Fatal(err)
	}
	procs, n := count(t, seg, childCounterUpdate)
	if got := v.Load(); got != int64(procs*n) {
		t.Fatalf("counter = %d after %d processes × %d Updates, want %d", got, procs, n, procs*n)
	}
}

var childCounterAdd = spawn.Register("TestCounterAdd", func(ctx context.Context, c *spawn.Child) error {
	seg, sh, n, procs, err := childArgs(c)
	if err != nil {
		return err
	}
	v, err := value.OpenInt64(seg, "counter")
	if err != nil {
		return err
	}
	if err := testutil.StartBarrier(&sh.arrived, procs); err != nil {
		return err
	}
	var last int64
	for range n {
		x := v.Add(1)
		if x <= last {
			return errors.New("Add returned a value not above the one it returned before")
		}
		last = x
	}
	return nil
})

// TestCounterAdd is the shared counter with the lock-free Int64.
func TestCounterAdd(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	v, err := value.NewInt64(seg, "counter")
	if err != nil {
		t.Fatal(err)
	}
	procs, n := count(t, seg, childCounterAdd)
	if got := v.Load(); got != int64(procs*n) {
		t.Fatalf("counter = %d after %d processes × %d Adds, want %d", got, procs, n, procs*n)
	}
}

// childLost does one unsynchronised increment, Load then Store, between the
// parent's Load and Store.
var childLost = spawn.Register("TestLostUpdate.racer", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	sh, err := openShared(seg)
	if err != nil {
		return err
	}
	v, err := value.Open[int64](seg, "counter")
	if err != nil {
		return err
	}
	if err := testutil.Await("the parent's Load", func() bool { return atomic.LoadUint32(&sh.flag) == 1 }); err != nil {
		return err
	}
	if c.Args()[0] == "update" {
		atomic.StoreUint32(&sh.flag, 2)
		v.Update(func(x *int64) { *x++ })
	} else {
		v.Store(v.Load() + 1)
		atomic.StoreUint32(&sh.flag, 2)
	}
	return nil
})

// TestLostUpdate shows why the lock exists. Two increments made with Load
// then Store, interleaved by a handshake as a scheduler may interleave
// them, leave the counter at 1: the second Store overwrites the first. Two
// Updates give 2 however they interleave.
func TestLostUpdate(t *testing.T) {
	t.Run("load+store", func(t *testing.T) {
		seg := testutil.Segment(t, 1<<20)
		v, err := value.New[int64](seg, "counter")
		if err != nil {
			t.Fatal(err)
		}
		sh := newShared(t, seg)
		p := testutil.Start(t, childLost, seg, "store")
		x := v.Load() // 1. the parent reads 0
		atomic.StoreUint32(&sh.flag, 1)
		testutil.WaitFor(t, testutil.Timeout, "the child's increment", func() bool { return atomic.LoadUint32(&sh.flag) == 2 })
		v.Store(x + 1) // 3. the parent writes 0+1 over the child's 1
		testutil.WaitAll(t, p)
		if got := v.Load(); got != 1 {
			t.Fatalf("counter = %d after two interleaved Load+Store increments, want 1 (one lost)", got)
		}
	})
	t.Run("update", func(t *testing.T) {
		seg := testutil.Segment(t, 1<<20)
		v, err := value.New[int64](seg, "counter")
		if err != nil {
			t.Fatal(err)
		}
		sh := newShared(t, seg)
		p := testutil.Start(t, childLost, seg, "update")
		v.Update(func(x *int64) {
			atomic.StoreUint32(&sh.flag, 1)
			// The child is now starting its Update, which waits for this one.
			testutil.WaitFor(t, testutil.Timeout, "the child to start its Update", func() bool { return atomic.LoadUint32(&sh.flag) == 2 })
			*x++
		})
		testutil.WaitAll(t, p)
		if got := v.Load(); got != 2 {
			t.Fatalf("counter = %d after two Updates, want 2", got)
		}
	})
}

var childUnsync = spawn.Register("TestUnsynchronisedLoses", func(ctx context.Context, c *spawn.Child) error {
	seg, sh, n, procs, err := childArgs(c)
	if err != nil {
		return err
	}
	v, err := value.Open[int64](seg, "counter")
	if err != nil {
		return err
	}
	if err := testutil.StartBarrier(&sh.arrived, procs); err != nil {
		return err
	}
	for range n {
		v.Store(v.Load() + 1) // not atomic: another Store can come between
	}
	return nil
})

// TestUnsynchronisedLoses runs the racing increments of TestLostUpdate at
// full speed in two processes. How many are lost depends on the scheduler
// (on a busy machine the processes may hardly overlap), so the test checks
// only that none is invented, and logs the loss. The count can even end
// below one process's share: a Store of a stale value wipes out every
// increment the other process made since that value was loaded.
func TestUnsynchronisedLoses(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	v, err := value.New[int64](seg, "counter")
	if err != nil {
		t.Fatal(err)
	}
	procs, n := count(t, seg, childUnsync)
	got := v.Load()
	if got > int64(procs*n) || got < 1 {
		t.Fatalf("counter = %d after %d processes × %d increments: outside [1, %d]", got, procs, n, procs*n)
	}
	t.Logf("Load+Store increments: %d of %d lost (%.1f%%)", int64(procs*n)-got, procs*n, 100*float64(int64(procs*n)-got)/float64(procs*n))
}

// record is a 32-byte value whose last field checks the others: a torn read
// shows as a bad Sum.
type record struct {
	A, B, C uint64
	Sum     uint64
}

func makeRecord(i uint64) record {
	r := record{A: i, B: i * 0x9E3779B97F4A7C15, C: ^i}
	r.Sum = r.A ^ bits.RotateLeft64(r.B, 17) ^ r.C*3
	return r
}

func (r record) ok() bool { return r.Sum == r.A^bits.RotateLeft64(r.B, 17)^r.C*3 }

// odd is a 28-byte value (seven 32-bit words, alignment 4): its last slot
// word is half padding.
type odd [7]uint32

func makeOdd(i uint64) odd {
	var o odd
	var sum uint32
	for k := range 6 {
		o[k] = uint32(i) * uint32(2*k+1)
		sum = sum*31 + o[k]
	}
	o[6] = sum
	return o
}

func (o odd) ok() bool {
	var sum uint32
	for k := range 6 {
		sum = sum*31 + o[k]
	}
	return o[6] == sum
}

// childWriter stores records (or odds) continuously, every tenth through
// Update, until told to stop.
var childWriter = spawn.Register("TestNoTornReads.writer", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	sh, err := openShared(seg)
	if err != nil {
		return err
	}
	switch c.Args()[0] {
	case "record":
		v, err := value.Open[record](seg, "v")
		if err != nil {
			return err
		}
		return writeUntilStopped(sh, v, makeRecord)
	default:
		v, err := value.Open[odd](seg, "v")
		if err != nil {
			return err
		}
		return writeUntilStopped(sh, v, makeOdd)
	}
})

func writeUntilStopped[T any](sh *shared, v *value.Value[T], mk func(uint64) T) error {
	for i := uint64(1); atomic.LoadUint32(&sh.stop) == 0; i++ {
		if i%10 == 0 {
			v.Update(func(x *T) { *x = mk(i) })
		} else {
			v.Store(mk(i))
		}
		atomic.StoreUint64(&sh.count, i)
	}
	return nil
}

// TestNoTornReads reads a value another process writes continuously and
// checks every read against its checksum.
func TestNoTornReads(t *testing.T) {
	t.Run("record", func(t *testing.T) {
		seg := testutil.Segment(t, 1<<20)
		v, err := value.New[record](seg, "v")
		if err != nil {
			t.Fatal(err)
		}
		v.Store(makeRecord(0))
		readWhileWritten(t, seg, v, "record", record.ok, func(r record) uint64 { return r.A })
	})
	t.Run("odd", func(t *testing.T) {
		seg := testutil.Segment(t, 1<<20)
		v, err := value.New[odd](seg, "v")
		if err != nil {
			t.Fatal(err)
		}
		v.Store(makeOdd(0))
		readWhileWritten(t, seg, v, "odd", odd.ok, func(o odd) uint64 { return uint64(o[0]) })
	})
}

func readWhileWritten[T any](t *testing.T, seg *shm.Segment, v *value.Value[T], kind string, ok func(T) bool, id func(T) uint64) {
	sh := newShared(t, seg)
	p := testutil.Start(t, childWriter, seg, kind)
	testutil.WaitFor(t, testutil.Timeout, "the writer to start", func() bool { return atomic.LoadUint64(&sh.count) > 0 })
	// Read until the writer has been seen to change the value many times,
	// so that reads and writes really overlapped.
	wantChanges := testutil.Size(2000, 10)
	reads, changes := 0, 0
	var last uint64
	deadline := time.Now().Add(testutil.Timeout)
	for changes < wantChanges || reads < 100*wantChanges {
		x := v.Load()
		if !ok(x) {
			atomic.StoreUint32(&sh.stop, 1)
			t.Fatalf("read %d: torn value %+v", reads, x)
		}
		if i := id(x); i != last {
			changes++
			last = i
		}
		reads++
		if reads%1024 == 0 && time.Now().After(deadline) {
			break
		}
	}
	atomic.StoreUint32(&sh.stop, 1)
	testutil.WaitAll(t, p)
	if changes < wantChanges {
		t.Fatalf("saw the value change %d times in %d reads, want %d", changes, reads, wantChanges)
	}
	t.Logf("%d reads, %d distinct values, %d writes, %d reads under the lock", reads, changes, atomic.LoadUint64(&sh.count), value.Fallbacks(v))
}

type (
	pair   struct{ A, B int64 }
	triple struct {
		X, Y float32
		Z    int16
	}
	big [512]int64
)

// roundTrip stores x into a new Value in seg and checks Load, Update and
// Open, in this process.
func roundTrip[T comparable](t *testing.T, seg *shm.Segment, name string, x T, inc func(*T)) {
	t.Helper()
	v, err := value.New[T](seg, name)
	if err != nil {
		t.Fatal(err)
	}
	var zero T
	if got := v.Load(); got != zero {
		t.Errorf("%s: new value = %v, want zero", name, got)
	}
	v.Store(x)
	if got := v.Load(); got != x {
		t.Errorf("%s: Load = %v, want %v", name, got, x)
	}
	w, err := value.Open[T](seg, name)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Load(); got != x {
		t.Errorf("%s: Load through Open = %v, want %v", name, got, x)
	}
	want := x
	inc(&want)
	w.Update(inc)
	if got := v.Load(); got != want {
		t.Errorf("%s: after Update, Load = %v, want %v", name, got, want)
	}
}

// TestRoundTrip covers each way a Value keeps its T: one 32-bit word (sizes
// 0 to 4), one 64-bit word (5 to 8), and seqlock slots (larger, with and
// without a partial last word).
func TestRoundTrip(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	roundTrip(t, seg, "bool", true, func(x *bool) { *x = !*x })
	roundTrip(t, seg, "int8", int8(-7), func(x *int8) { *x-- })
	roundTrip(t, seg, "uint16", uint16(65000), func(x *uint16) { *x++ })
	roundTrip(t, seg, "bytes3", [3]byte{1, 2, 3}, func(x *[3]byte) { x[2] = 9 })
	roundTrip(t, seg, "int32", int32(math.MinInt32), func(x *int32) { *x = -*x - 1 })
	roundTrip(t, seg, "float32", float32(1.5), func(x *float32) { *x *= 2 })
	roundTrip(t, seg, "bytes5", [5]byte{1, 2, 3, 4, 5}, func(x *[5]byte) { x[4] = 0 })
	roundTrip(t, seg, "int64", int64(math.MinInt64), func(x *int64) { *x++ })
	roundTrip(t, seg, "float64", math.Pi, func(x *float64) { *x = -*x })
	roundTrip(t, seg, "complex64", complex64(1+2i), func(x *complex64) { *x *= 1i })
	roundTrip(t, seg, "complex128", 3-4i, func(x *complex128) { *x *= 2 })
	roundTrip(t, seg, "pair", pair{math.MaxInt64, -1}, func(x *pair) { x.A, x.B = x.B, x.A })
	roundTrip(t, seg, "triple", triple{1, 2, -3}, func(x *triple) { x.Z = 7 })
	roundTrip(t, seg, "odd", makeOdd(99), func(x *odd) { x[6]++ })
	roundTrip(t, seg, "record", makeRecord(5), func(x *record) { x.C = 0 })
	roundTrip(t, seg, "empty", struct{}{}, func(*struct{}) {})
	b := big{}
	for i := range b {
		b[i] = int64(i) * -3
	}
	roundTrip(t, seg, "big", b, func(x *big) { x[511]++ })
}

var childStore = spawn.Register("TestAcrossProcesses", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	f, err := value.Open[float64](seg, "f")
	if err != nil {
		return err
	}
	r, err := value.Open[record](seg, "r")
	if err != nil {
		return err
	}
	u, err := value.OpenUint32(seg, "u")
	if err != nil {
		return err
	}
	f.Update(func(x *float64) { *x *= 2 })
	r.Store(makeRecord(uint64(f.Load())))
	u.Add(^uint32(0)) // subtract 1
	return nil
})

// TestAcrossProcesses: what one process stores, another loads.
func TestAcrossProcesses(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	f, err := value.New[float64](seg, "f")
	if err != nil {
		t.Fatal(err)
	}
	r, err := value.New[record](seg, "r")
	if err != nil {
		t.Fatal(err)
	}
	u, err := value.NewUint32(seg, "u")
	if err != nil {
		t.Fatal(err)
	}
	f.Store(21)
	testutil.WaitAll(t, testutil.Start(t, childStore, seg))
	if got := f.Load(); got != 42 {
		t.Errorf("float64 = %v, want 42", got)
	}
	if got := r.Load(); got != makeRecord(42) {
		t.Errorf("record = %+v, want %+v", got, makeRecord(42))
	}
	if got := u.Load(); got != math.MaxUint32 {
		t.Errorf("uint32 = %d, want %d", got, uint32(math.MaxUint32))
	}
}

// TestUpdatePanics: a panicking fn changes nothing and leaves the lock free.
func TestUpdatePanics(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	small, err := value.New[int64](seg, "small")
	if err != nil {
		t.Fatal(err)
	}
	large, err := value.New[record](seg, "large")
	if err != nil {
		t.Fatal(err)
	}
	small.Store(5)
	large.Store(makeRecord(5))
	testutil.MustPanic(t, "boom", func() { small.Update(func(x *int64) { *x = 6; panic("boom") }) })
	testutil.MustPanic(t, "boom", func() { large.Update(func(x *record) { x.A = 6; panic("boom") }) })
	if got := small.Load(); got != 5 {
		t.Errorf("small = %d after a panicking Update, want 5", got)
	}
	if got := large.Load(); got != makeRecord(5) {
		t.Errorf("large = %+v after a panicking Update", got)
	}
	for _, m := range []*lock.Mutex{small.Locker().(*lock.Mutex), large.Locker().(*lock.Mutex)} {
		if !m.TryLock() {
			t.Fatal("the lock is held after a panicking Update")
		}
		m.Unlock()
	}
}

var childHoldLock = spawn.Register("TestLocker", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	sh, err := openShared(seg)
	if err != nil {
		return err
	}
	v, err := value.Open[record](seg, "v")
	if err != nil {
		return err
	}
	v.Locker().Lock()
	atomic.StoreUint32(&sh.flag, 1)
	if err := testutil.Await("the parent's checks", func() bool { return atomic.LoadUint32(&sh.flag) == 2 }); err != nil {
		return err
	}
	v.Locker().Unlock()
	return nil
})

// TestLocker: the lock Locker returns is the one Store and Update take, and
// Load does not.
func TestLocker(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	v, err := value.New[record](seg, "v")
	if err != nil {
		t.Fatal(err)
	}
	v.Store(makeRecord(1))
	sh := newShared(t, seg)
	p := testutil.Start(t, childHoldLock, seg)
	testutil.WaitFor(t, testutil.Timeout, "the child to take the lock", func() bool { return atomic.LoadUint32(&sh.flag) == 1 })
	m := v.Locker().(*lock.Mutex)
	if m.Holder() != p.Pid() {
		t.Fatalf("lock holder %d, want the child %d", m.Holder(), p.Pid())
	}
	if got := v.Load(); got != makeRecord(1) { // does not wait for the lock
		t.Fatalf("Load = %+v", got)
	}
	stored := make(chan struct{})
	go func() { v.Store(makeRecord(2)); close(stored) }()
	// Store waits for the lock: once it sleeps, the lock word's waiter bit
	// (bit 63) is set, and the value has not changed. (Nothing else has
	// waited for this lock yet: the bit stays set once a waiter sets it.)
	mem, _ := objectAt(t, seg, "v", shm.KindValue)
	word := (*uint64)(unsafe.Pointer(&mem[value.OffLock]))
	testutil.WaitFor(t, testutil.Timeout, "Store to wait for the lock", func() bool { return atomic.LoadUint64(word)>>63 == 1 })
	if got := v.Load(); got != makeRecord(1) {
		t.Fatalf("Load = %+v while Store waits for the lock", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := m.LockContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockContext while the child holds the lock = %v", err)
	}
	atomic.StoreUint32(&sh.flag, 2)
	<-stored // returns once the child unlocks
	testutil.WaitAll(t, p)
	if got := v.Load(); got != makeRecord(2) {
		t.Fatalf("Load = %+v after Store", got)
	}
}

// TestGoroutines: goroutines of one process share a handle, or hold one
// each, and no Update is lost (the race detector watches this one).
func TestGoroutines(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	v, err := value.New[record](seg, "v")
	if err != nil {
		t.Fatal(err)
	}
	w, err := value.Open[record](seg, "v")
	if err != nil {
		t.Fatal(err)
	}
	n := testutil.Size(20_000, 10)
	var wg sync.WaitGroup
	for _, h := range []*value.Value[record]{v, v, w} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				h.Update(func(r *record) { *r = makeRecord(r.A + 1) })
			}
		}()
	}
	wg.Wait()
	if got := v.Load(); got != makeRecord(uint64(3*n)) {
		t.Fatalf("Load = %+v after 3 goroutines × %d Updates", got, n)
	}
}

// TestAtomicInts exercises every method of the four atomic integers.
func TestAtomicInts(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	i64, err := value.NewInt64(seg, "i64")
	if err != nil {
		t.Fatal(err)
	}
	u64, err := value.NewUint64(seg, "u64")
	if err != nil {
		t.Fatal(err)
	}
	i32, err := value.NewInt32(seg, "i32")
	if err != nil {
		t.Fatal(err)
	}
	u32, err := value.NewUint32(seg, "u32")
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("Int64 zero", i64.Load(), int64(0))
	check("Int64.Add", i64.Add(-5), int64(-5))
	check("Int64.Swap", i64.Swap(12), int64(-5))
	check("Int64.CAS fails", i64.CompareAndSwap(11, 0), false)
	check("Int64.CAS", i64.CompareAndSwap(12, 0b1100), true)
	check("Int64.And", i64.And(0b0110), int64(0b1100))
	check("Int64.Or", i64.Or(0b0001), int64(0b0100))
	i64.Store(math.MaxInt64)
	check("Int64 overflow", i64.Add(1), int64(math.MinInt64))

	check("Uint64.Add", u64.Add(^uint64(0)), uint64(math.MaxUint64))
	check("Uint64.Swap", u64.Swap(3), uint64(math.MaxUint64))
	check("Uint64.CAS", u64.CompareAndSwap(3, 4), true)
	check("Uint64.CAS fails", u64.CompareAndSwap(3, 5), false)
	check("Uint64.And", u64.And(6), uint64(4))
	check("Uint64.Or", u64.Or(1), uint64(4))
	u64.Store(7)
	check("Uint64.Load", u64.Load(), uint64(7))

	check("Int32.Add", i32.Add(math.MaxInt32), int32(math.MaxInt32))
	check("Int32 overflow", i32.Add(1), int32(math.MinInt32))
	check("Int32.Swap", i32.Swap(-1), int32(math.MinInt32))
	check("Int32.CAS", i32.CompareAndSwap(-1, 6), true)
	check("Int32.And", i32.And(3), int32(6))
	check("Int32.Or", i32.Or(8), int32(2))
	i32.Store(-9)
	check("Int32.Load", i32.Load(), int32(-9))

	check("Uint32.Add", u32.Add(^uint32(0)), uint32(math.MaxUint32))
	check("Uint32.Swap", u32.Swap(9), uint32(math.MaxUint32))
	check("Uint32.CAS fails", u32.CompareAndSwap(8, 1), false)
	check("Uint32.And", u32.And(8), uint32(9))
	check("Uint32.Or", u32.Or(3), uint32(8))
	u32.Store(1)
	check("Uint32.Load", u32.Load(), uint32(1))

	// A second handle sees the same word.
	again, err := value.OpenInt64(seg, "i64")
	if err != nil {
		t.Fatal(err)
	}
	check("Int64 through OpenInt64", again.Load(), int64(math.MinInt64))
	if _, err := value.OpenInt64(seg, "u64"); !errors.Is(err, shm.ErrWrongKind) || !strings.Contains(err.Error(), "it is a Uint64, not an Int64") {
		t.Errorf("OpenInt64 of a Uint64 = %v", err)
	}
	if _, err := value.OpenUint32(seg, "i32"); !errors.Is(err, shm.ErrWrongKind) || !strings.Contains(err.Error(), "it is an Int32, not a Uint32") {
		t.Errorf("OpenUint32 of an Int32 = %v", err)
	}
	if _, err := value.Open[int64](seg, "i64"); !errors.Is(err, shm.ErrWrongKind) || !strings.Contains(err.Error(), "it is an Int64, not a Value") {
		t.Errorf("Open[int64] of an Int64 = %v", err)
	}
	if _, err := value.NewInt64(seg, "i64"); !errors.Is(err, shm.ErrExist) {
		t.Errorf("NewInt64 of a taken name = %v", err)
	}
	if _, err := value.OpenUint64(seg, "none"); !errors.Is(err, shm.ErrNotExist) {
		t.Errorf("OpenUint64 of a missing name = %v", err)
	}
}

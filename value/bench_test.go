//go:build linux

package value_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
	"github.com/shmkit/shmkit/value"
)

// BenchmarkAdd: Int64.Add by one goroutine, beside sync/atomic's Int64.Add
// on the Go heap in the same run. Both are one LOCK XADD (amd64).
func BenchmarkAdd(b *testing.B) {
	b.Run("mech=shmkit", func(b *testing.B) {
		v, err := value.NewInt64(testutil.Segment(b, 1<<20), "n")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for range b.N {
			v.Add(1)
		}
		if v.Load() != int64(b.N) {
			b.Fatal("lost adds")
		}
	})
	b.Run("mech=atomic", func(b *testing.B) {
		var v atomic.Int64
		b.ReportAllocs()
		for range b.N {
			v.Add(1)
		}
		if v.Load() != int64(b.N) {
			b.Fatal("lost adds")
		}
	})
}

// benchChild runs one side of a contended benchmark: args[0] is the
// operation, args[1] the count. It arrives at the start barrier, waits for
// the parent's go (flag 1), and runs; a count of 0 means until stop is set.
var benchChild = spawn.Register("benchValue", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	sh, err := openShared(seg)
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(c.Args()[1])
	var op func()
	switch c.Args()[0] {
	case "add":
		v, err := value.OpenInt64(seg, "v")
		if err != nil {
			return err
		}
		op = func() { v.Add(1) }
	case "update":
		v, err := value.Open[int64](seg, "v")
		if err != nil {
			return err
		}
		op = func() { v.Update(func(x *int64) { *x++ }) }
	case "store32":
		v, err := value.Open[bench32](seg, "v")
		if err != nil {
			return err
		}
		var i uint64
		op = func() { i++; v.Store(bench32{i, i, i, i}) }
	case "load32":
		v, err := value.Open[bench32](seg, "v")
		if err != nil {
			return err
		}
		op = func() { v.Load() }
	case "loadlocked32":
		v, err := value.Open[bench32](seg, "v")
		if err != nil {
			return err
		}
		op = func() { value.LoadLocked(v) }
	}
	atomic.AddUint32(&sh.arrived, 1)
	if err := testutil.Await("the parent's go", func() bool { return atomic.LoadUint32(&sh.flag) == 1 }); err != nil {
		return err
	}
	if n == 0 {
		for atomic.LoadUint32(&sh.stop) == 0 {
			for range 64 {
				op()
			}
		}
		return nil
	}
	for range n {
		op()
	}
	return nil
})

// contend starts a child running op n times (0: until stop), waits until it
// is ready, and returns a function that lets it go, and one that stops it
// and waits for it.
func contend(b *testing.B, seg *shm.Segment, op string, n int) (goFn, stop func()) {
	sh := newShared(b, seg)
	p := testutil.Start(b, benchChild, seg, op, strconv.Itoa(n))
	testutil.WaitFor(b, testutil.Timeout, "the child to be ready", func() bool { return atomic.LoadUint32(&sh.arrived) == 1 })
	return func() { atomic.StoreUint32(&sh.flag, 1) },
		func() {
			atomic.StoreUint32(&sh.stop, 1)
			atomic.StoreUint32(&sh.flag, 1)
			testutil.WaitAll(b, p)
		}
}

// BenchmarkAddContended: two processes each make b.N Int64.Adds on one
// word; beside two goroutines doing the same with sync/atomic. Reports the
// total ops/s.
func BenchmarkAddContended(b *testing.B) {
	b.Run("mech=shmkit", func(b *testing.B) {
		seg := testutil.Segment(b, 1<<20)
		v, err := value.NewInt64(seg, "v")
		if err != nil {
			b.Fatal(err)
		}
		goFn, stop := contend(b, seg, "add", b.N)
		b.ResetTimer()
		t0 := time.Now()
		goFn()
		for range b.N {
			v.Add(1)
		}
		stop()
		elapsed := time.Since(t0)
		b.StopTimer()
		if v.Load() != int64(2*b.N) {
			b.Fatalf("counter %d, want %d", v.Load(), 2*b.N)
		}
		b.ReportMetric(float64(2*b.N)/elapsed.Seconds(), "ops/s")
	})
	b.Run("mech=atomic", func(b *testing.B) {
		var v atomic.Int64
		var wg sync.WaitGroup
		b.ResetTimer()
		t0 := time.Now()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range b.N {
				v.Add(1)
			}
		}()
		for range b.N {
			v.Add(1)
		}
		wg.Wait()
		elapsed := time.Since(t0)
		b.StopTimer()
		if v.Load() != int64(2*b.N) {
			b.Fatal("lost adds")
		}
		b.ReportMetric(float64(2*b.N)/elapsed.Seconds(), "ops/s")
	})
}

// bench32 is the 32-byte struct of the Load and Store benchmarks.
type bench32 struct{ A, B, C, D uint64 }

// BenchmarkLoad: Value.Load of an int64 (one atomic load) and of a 32-byte
// struct, through the seqlock and, for comparison, under the value's lock
// (the alternative design); alone, while another process stores
// continuously, and while another process loads continuously.
func BenchmarkLoad(b *testing.B) {
	b.Run("size=8/mech=shmkit/peer=none", func(b *testing.B) {
		v, err := value.New[int64](testutil.Segment(b, 1<<20), "v")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		var sink int64
		for range b.N {
			sink += v.Load()
		}
		_ = sink
	})
	b.Run("size=8/mech=atomic/peer=none", func(b *testing.B) {
		var v atomic.Int64
		b.ReportAllocs()
		var sink int64
		for range b.N {
			sink += v.Load()
		}
		_ = sink
	})
	for _, mech := range []string{"seqlock", "lock"} {
		for _, peer := range []string{"none", "store", "load"} {
			b.Run("size=32/mech="+mech+"/peer="+peer, func(b *testing.B) {
				seg := testutil.Segment(b, 1<<20)
				v, err := value.New[bench32](seg, "v")
				if err != nil {
					b.Fatal(err)
				}
				load := v.Load
				peerOp := "load32"
				if mech == "lock" {
					load = func() bench32 { return value.LoadLocked(v) }
					peerOp = "loadlocked32"
				}
				if peer == "store" {
					peerOp = "store32"
				}
				if peer != "none" {
					goFn, stop := contend(b, seg, peerOp, 0)
					goFn()
					defer stop()
				}
				b.ReportAllocs()
				b.ResetTimer()
				var sink uint64
				for range b.N {
					sink += load().A
				}
				b.StopTimer()
				_ = sink
				if mech == "seqlock" {
					b.ReportMetric(float64(value.Fallbacks(v))/float64(b.N), "fallbacks/op")
				}
			})
		}
	}
}

// BenchmarkStore: Value.Store of an int64 (lock, atomic store, unlock) and
// of a 32-byte struct (lock, seqlock write of two slots, unlock).
func BenchmarkStore(b *testing.B) {
	b.Run("size=8", func(b *testing.B) {
		v, err := value.New[int64](testutil.Segment(b, 1<<20), "v")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := range b.N {
			v.Store(int64(i))
		}
	})
	b.Run("size=32", func(b *testing.B) {
		v, err := value.New[bench32](testutil.Segment(b, 1<<20), "v")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := range b.N {
			x := uint64(i)
			v.Store(bench32{x, x, x, x})
		}
	})
}

// BenchmarkUpdate: Update(func(x *int64){ *x++ }) alone (procs=1), and by
// two processes at once, each making b.N (procs=2; reports total ops/s).
func BenchmarkUpdate(b *testing.B) {
	inc := func(x *int64) { *x++ }
	b.Run("procs=1", func(b *testing.B) {
		v, err := value.New[int64](testutil.Segment(b, 1<<20), "v")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for range b.N {
			v.Update(inc)
		}
	})
	b.Run("procs=2", func(b *testing.B) {
		seg := testutil.Segment(b, 1<<20)
		v, err := value.New[int64](seg, "v")
		if err != nil {
			b.Fatal(err)
		}
		goFn, stop := contend(b, seg, "update", b.N)
		b.ResetTimer()
		t0 := time.Now()
		goFn()
		for range b.N {
			v.Update(inc)
		}
		stop()
		elapsed := time.Since(t0)
		b.StopTimer()
		if v.Load() != int64(2*b.N) {
			b.Fatalf("counter %d, want %d", v.Load(), 2*b.N)
		}
		b.ReportMetric(float64(2*b.N)/elapsed.Seconds(), "ops/s")
	})
}

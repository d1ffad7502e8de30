//go:build linux

package value_test

import (
	"context"
	"fmt"
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

// The map benchmarks: Get and Put of small keys in a map of benchKeys
// entries, by one process, and by one process while a second runs the same
// operation on the same map without pause; beside a Go map under a
// sync.RWMutex, by one goroutine and by two. Mechanisms:
//
//	shmkit       value.Map[uint64, uint64] (NewMap: 8-byte keys and values)
//	shmkit-bytes value.BytesMap, 16-byte keys and values, Get into a buffer
//	gomap        map[uint64]uint64 under a sync.RWMutex (RLock for Get)
//
// ns/op is the measuring process's (or goroutine's) time per operation;
// total-Mops/s counts the operations of both.

const benchKeys = 10_000

// benchMapOps is one mechanism's Get and Put of key i % benchKeys.
type benchMapOps struct {
	get, put func(i int)
}

func benchKey(i int) []byte { return []byte(fmt.Sprintf("key-%012d", i%benchKeys)) }

// benchMapKeys holds the 16-byte keys, made once.
var benchMapKeys = func() [][]byte {
	ks := make([][]byte, benchKeys)
	for i := range ks {
		ks[i] = benchKey(i)
	}
	return ks
}()

// openBenchMap returns the operations of mech on the maps in seg.
func openBenchMap(seg *shm.Segment, mech string) (benchMapOps, error) {
	switch mech {
	case "shmkit":
		m, err := value.OpenMap[uint64, uint64](seg, "typed")
		if err != nil {
			return benchMapOps{}, err
		}
		return benchMapOps{
			get: func(i int) { m.Get(uint64(i % benchKeys)) },
			put: func(i int) { m.Put(uint64(i%benchKeys), uint64(i)) },
		}, nil
	case "shmkit-bytes":
		m, err := value.OpenBytesMap(seg, "bytes")
		if err != nil {
			return benchMapOps{}, err
		}
		buf := make([]byte, 0, 64)
		val := []byte("value-0123456789")
		return benchMapOps{
			get: func(i int) { buf, _, _ = m.Get(benchMapKeys[i%benchKeys], buf) },
			put: func(i int) { m.Put(benchMapKeys[i%benchKeys], val) },
		}, nil
	}
	return benchMapOps{}, fmt.Errorf("no mechanism %q", mech)
}

// benchMapChild runs operation args[1] of mechanism args[0] from the
// parent's go until its stop, then stores how many it made in count.
var benchMapChild = spawn.Register("benchMap", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	sh, err := openShared(seg)
	if err != nil {
		return err
	}
	ops, err := openBenchMap(seg, c.Args()[0])
	if err != nil {
		return err
	}
	op := ops.get
	if c.Args()[1] == "put" {
		op = ops.put
	}
	atomic.AddUint32(&sh.arrived, 1)
	if err := testutil.Await("the parent's go", func() bool { return atomic.LoadUint32(&sh.flag) == 1 }); err != nil {
		return err
	}
	n := 0
	for atomic.LoadUint32(&sh.stop) == 0 {
		for range 64 {
			op(n)
			n++
		}
	}
	atomic.StoreUint64(&sh.count, uint64(n))
	return nil
})

func BenchmarkMapGet(b *testing.B) { benchMap(b, "get") }
func BenchmarkMapPut(b *testing.B) { benchMap(b, "put") }

func benchMap(b *testing.B, op string) {
	for _, procs := range []int{1, 2} {
		for _, mech := range []string{"shmkit", "shmkit-bytes", "gomap"} {
			b.Run(fmt.Sprintf("mech=%s/procs=%d", mech, procs), func(b *testing.B) {
				if mech == "gomap" {
					benchGoMap(b, op, procs)
					return
				}
				seg := testutil.Segment(b, 8<<20)
				m, err := value.NewMap[uint64, uint64](seg, "typed", benchKeys)
				if err != nil {
					b.Fatal(err)
				}
				bm, err := value.NewBytesMap(seg, "bytes", value.MapOptions{Entries: benchKeys, Bytes: benchKeys * 32, MaxEntryBytes: 32})
				if err != nil {
					b.Fatal(err)
				}
				for i := range benchKeys {
					m.Put(uint64(i), uint64(i))
					bm.Put(benchMapKeys[i], []byte("value-0123456789"))
				}
				ops, err := openBenchMap(seg, mech)
				if err != nil {
					b.Fatal(err)
				}
				f := ops.get
				if op == "put" {
					f = ops.put
				}
				sh := newShared(b, seg)
				var p *spawn.Process
				if procs == 2 {
					p = testutil.Start(b, benchMapChild, seg, mech, op)
					testutil.WaitFor(b, testutil.Timeout, "the child to be ready", func() bool { return atomic.LoadUint32(&sh.arrived) == 1 })
				}
				b.ReportAllocs()
				b.ResetTimer()
				t0 := time.Now()
				atomic.StoreUint32(&sh.flag, 1)
				for i := range b.N {
					f(i)
				}
				elapsed := time.Since(t0)
				b.StopTimer()
				atomic.StoreUint32(&sh.stop, 1)
				if p != nil {
					testutil.WaitAll(b, p)
				}
				total := float64(b.N) + float64(atomic.LoadUint64(&sh.count))
				b.ReportMetric(total/elapsed.Seconds()/1e6, "total-Mops/s")
			})
		}
	}
}

// benchGoMap is the baseline: a map[uint64]uint64 under a sync.RWMutex,
// used by one goroutine, or by two at once.
func benchGoMap(b *testing.B, op string, goroutines int) {
	var mu sync.RWMutex
	m := make(map[uint64]uint64, benchKeys)
	for i := range benchKeys {
		m[uint64(i)] = uint64(i)
	}
	var sink atomic.Uint64
	f := func(i int) {
		mu.RLock()
		sink.Store(m[uint64(i%benchKeys)])
		mu.RUnlock()
	}
	if op == "put" {
		f = func(i int) {
			mu.Lock()
			m[uint64(i%benchKeys)] = uint64(i)
			mu.Unlock()
		}
	}
	var stop atomic.Bool
	var other atomic.Uint64
	var wg sync.WaitGroup
	for range goroutines - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for !stop.Load() {
				for range 64 {
					f(n)
					n++
				}
			}
			other.Add(uint64(n))
		}()
	}
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	for i := range b.N {
		f(i)
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	stop.Store(true)
	wg.Wait()
	b.ReportMetric((float64(b.N)+float64(other.Load()))/elapsed.Seconds()/1e6, "total-Mops/s")
}

// BenchmarkMapChurn: a Put of a new key and a Delete of an old one, the
// map's live size constant: the allocator's reuse.
func BenchmarkMapChurn(b *testing.B) {
	seg := testutil.Segment(b, 8<<20)
	m, err := value.NewBytesMap(seg, "m", value.MapOptions{Entries: 1024, Bytes: 1024 * 64, MaxEntryBytes: 64})
	if err != nil {
		b.Fatal(err)
	}
	keys := make([][]byte, 2048)
	for i := range keys {
		keys[i] = []byte("churn-" + strconv.Itoa(i))
	}
	val := make([]byte, 40)
	for i := range 1000 {
		m.Put(keys[i], val)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m.Put(keys[(i+1000)%2048], val)
		m.Delete(keys[i%2048])
	}
}

// BenchmarkMapRepair: the repair that the first locker after a writer's
// death makes, of a map of 100 000 entries of 24 bytes.
func BenchmarkMapRepair(b *testing.B) {
	seg := testutil.Segment(b, 32<<20)
	const n = 100_000
	m, err := value.NewMap[[2]uint64, uint64](seg, "m", n)
	if err != nil {
		b.Fatal(err)
	}
	for i := range uint64(n) {
		m.Put([2]uint64{i, i}, i)
	}
	b.ResetTimer()
	for range b.N {
		if err := value.Repair(m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/entry")
}

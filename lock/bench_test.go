//go:build linux

package lock_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/ipcbench"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

// BenchmarkMutexUncontended: Lock+Unlock by one goroutine, beside sync.Mutex.
func BenchmarkMutexUncontended(b *testing.B) {
	b.Run("mech=shmkit", func(b *testing.B) {
		m, err := lock.NewMutex(testutil.Segment(b, 1<<20), "m")
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m.Lock()
			n++
			m.Unlock()
		}
		sink = n
	})
	b.Run("mech=sync", func(b *testing.B) {
		var m sync.Mutex
		n := 0
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m.Lock()
			n++
			m.Unlock()
		}
		sink = n
	})
}

var sink int

// BenchmarkMutexHandoff: round trips of two Mutex hand-offs between two
// processes, beside the raw futex and atomic ping-pongs of the same run.
// The mechanism is go run ./bench's mutex: three Mutexes in rotation, so
// that the hand-offs alternate strictly (internal/ipcbench, mutexEnd).
func BenchmarkMutexHandoff(b *testing.B) {
	ipcbench.SignalRoundTrips(b, ipcbench.Mutex, ipcbench.Futex, ipcbench.Atomic)
}

var contendChild = spawn.Register("benchMutexContended", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	m, err := lock.OpenMutex(seg, "m")
	if err != nil {
		return err
	}
	sh, err := openShared(seg)
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(c.Args()[0])
	atomic.AddUint32(&sh.flag, 1)
	if err := testutil.Await("the parent to start", func() bool { return atomic.LoadUint32(&sh.flag) == 2 }); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		m.Lock()
		sh.counter++
		m.Unlock()
	}
	return nil
})

// BenchmarkMutexContended: two processes each make b.N locked increments of
// one counter; reports total ops/s.
func BenchmarkMutexContended(b *testing.B) {
	seg := testutil.Segment(b, 1<<20)
	m, err := lock.NewMutex(seg, "m")
	if err != nil {
		b.Fatal(err)
	}
	sh := newShared(b, seg)
	p := testutil.Start(b, contendChild, seg, strconv.Itoa(b.N))
	testutil.WaitFor(b, testutil.Timeout, "the child to start", func() bool { return atomic.LoadUint32(&sh.flag) == 1 })
	b.ResetTimer()
	t0 := time.Now()
	atomic.AddUint32(&sh.flag, 1)
	for i := 0; i < b.N; i++ {
		m.Lock()
		sh.counter++
		m.Unlock()
	}
	testutil.WaitAll(b, p)
	elapsed := time.Since(t0)
	b.StopTimer()
	if sh.counter != int64(2*b.N) {
		b.Fatalf("counter %d, want %d", sh.counter, 2*b.N)
	}
	b.ReportMetric(float64(2*b.N)/elapsed.Seconds(), "ops/s")
}

// BenchmarkRWMutexUncontended: RLock+RUnlock and Lock+Unlock by one
// goroutine, beside sync.RWMutex.
func BenchmarkRWMutexUncontended(b *testing.B) {
	b.Run("op=rlock/mech=shmkit", func(b *testing.B) {
		rw, err := lock.NewRWMutex(testutil.Segment(b, 1<<20), "rw")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			rw.RLock()
			//lint:ignore SA2001 the empty critical section is what is measured
			rw.RUnlock()
		}
	})
	b.Run("op=rlock/mech=sync", func(b *testing.B) {
		var rw sync.RWMutex
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			rw.RLock()
			//lint:ignore SA2001 the empty critical section is what is measured
			rw.RUnlock()
		}
	})
	b.Run("op=lock/mech=shmkit", func(b *testing.B) {
		rw, err := lock.NewRWMutex(testutil.Segment(b, 1<<20), "rw")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			rw.Lock()
			//lint:ignore SA2001 the empty critical section is what is measured
			rw.Unlock()
		}
	})
	b.Run("op=lock/mech=sync", func(b *testing.B) {
		var rw sync.RWMutex
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			rw.Lock()
			//lint:ignore SA2001 the empty critical section is what is measured
			rw.Unlock()
		}
	})
}

// condPinger is a producer/consumer round trip through a Mutex and a Cond:
// the parent hands the turn to the child and waits for it to come back.
type condPinger struct {
	m   *lock.Mutex
	c   *lock.Cond
	sh  *shared
	seg *shm.Segment
	p   *spawn.Process
}

// condPong waits for its turn (flag odd), hands it back (flag even), until
// result is 1.
var condPong = spawn.Register("benchCondPong", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	m, err := lock.OpenMutex(seg, "m")
	if err != nil {
		return err
	}
	cond, err := lock.OpenCond(seg, "c", m)
	if err != nil {
		return err
	}
	sh, err := openShared(seg)
	if err != nil {
		return err
	}
	m.Lock()
	defer m.Unlock()
	for {
		for sh.flag%2 == 0 && sh.result == 0 {
			if err := cond.Wait(ctx); err != nil {
				return err
			}
		}
		if sh.result == 1 {
			return nil
		}
		sh.flag++
		cond.Signal()
	}
})

func startCond(b *testing.B) *condPinger {
	seg := testutil.Segment(b, 1<<20)
	m, err := lock.NewMutex(seg, "m")
	if err != nil {
		b.Fatal(err)
	}
	c, err := lock.NewCond(seg, "c", m)
	if err != nil {
		b.Fatal(err)
	}
	sh := newShared(b, seg)
	return &condPinger{m: m, c: c, sh: sh, seg: seg, p: testutil.Start(b, condPong, seg)}
}

func (t *condPinger) Ping() error {
	t.m.Lock()
	t.sh.flag++ // odd: the child's turn
	t.c.Signal()
	for t.sh.flag%2 == 1 {
		if err := t.c.Wait(context.Background()); err != nil {
			t.m.Unlock()
			return err
		}
	}
	t.m.Unlock()
	return nil
}

func (t *condPinger) Close() error {
	t.m.Lock()
	t.sh.result = 1
	t.c.Broadcast()
	t.m.Unlock()
	return t.p.Wait()
}

// BenchmarkCondRoundTrip: producer/consumer round trips between two
// processes through one Mutex and one Cond, beside the raw futex ping-pong
// of the same run.
func BenchmarkCondRoundTrip(b *testing.B) {
	b.Run("mech=cond", func(b *testing.B) {
		t := startCond(b)
		defer t.Close()
		ipcbench.RoundTrip(b, t)
	})
	ipcbench.SignalRoundTrips(b, ipcbench.Futex)
}

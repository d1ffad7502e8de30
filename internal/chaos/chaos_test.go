//go:build linux

// Package chaos_test runs a pipeline of processes while a killer SIGKILLs
// them, and checks that nothing is lost, duplicated or left behind: the
// promises of docs/design.md, tested together.
//
//	go test ./internal/chaos                 # a few seconds
//	go test ./internal/chaos -long -v        # a soak: SHMKIT_SOAK (default 10m)
package chaos_test

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/internal/proc"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
	"github.com/shmkit/shmkit/value"
)

var long = flag.Bool("long", false, "run the soak: the pipeline again and again for $SHMKIT_SOAK (default 10m)")

func TestMain(m *testing.M) { testutil.Main(m) }

// tally is the Mutex-protected state the workers update, in shared memory.
type tally struct {
	count uint64 // inputs counted
	sum   uint64 // the sum of their results
}

// objects are the pipeline's shared objects.
type objects struct {
	jobs     *ring.Queue
	next     *value.Int64 // the producer's next input
	progress *value.Int64 // inputs the workers finished
	mu       *lock.Mutex
	seen     *array.Array[uint64] // bitmap of inputs counted in the tally
	tally    *tally
	repairs  *value.Int64 // tally repairs after a holder died
}

func openObjects(seg *shm.Segment) (*objects, error) {
	o := &objects{}
	var err error
	if o.jobs, err = ring.OpenQueue(seg, "jobs"); err != nil {
		return nil, err
	}
	if o.next, err = value.OpenInt64(seg, "next"); err != nil {
		return nil, err
	}
	if o.progress, err = value.OpenInt64(seg, "progress"); err != nil {
		return nil, err
	}
	if o.repairs, err = value.OpenInt64(seg, "repairs"); err != nil {
		return nil, err
	}
	if o.mu, err = lock.OpenMutex(seg, "tally.lock"); err != nil {
		return nil, err
	}
	if o.seen, err = array.Open[uint64](seg, "seen"); err != nil {
		return nil, err
	}
	if o.tally, err = testutil.OpenOverlay[tally](seg, "tally"); err != nil {
		return nil, err
	}
	return o, nil
}

func result(i uint64) uint64 { return i*i + 7 }

// lockTally takes the tally's lock; if its holder died mid-update, it
// rebuilds the tally from the bitmap, which is written first.
func (o *objects) lockTally(ctx context.Context) error {
	err := o.mu.LockContext(ctx)
	if errors.Is(err, lock.ErrOwnerDead) {
		var t tally
		for w, bits := range o.seen.Slice() {
			for b := 0; b < 64; b++ {
				if bits&(1<<b) != 0 {
					t.count++
					t.sum += result(uint64(w*64 + b))
				}
			}
		}
		*o.tally = t
		o.repairs.Add(1)
		return nil
	}
	return err
}

// work is the workers' task: count input i once in the tally (a retry of
// an input whose worker died finds it counted), and return its result.
var work = spawn.RegisterTask("chaos.work", func(ctx context.Context, i uint64) (uint64, error) {
	o, err := openObjects(spawn.Segments(ctx)[0])
	if err != nil {
		return 0, err
	}
	if err := o.lockTally(ctx); err != nil {
		return 0, err
	}
	w, b := i/64, i%64
	if bits := o.seen.At(int(w)); bits&(1<<b) == 0 {
		o.seen.Set(int(w), bits|1<<b) // first: the repair trusts the bitmap
		o.tally.count++
		// Work inside the critical section, so that kills land while a
		// worker holds the lock with the tally half-updated.
		end := time.Now().Add(5 * time.Microsecond)
		for time.Now().Before(end) {
		}
		o.tally.sum += result(i)
	}
	o.mu.Unlock()
	o.progress.Add(1)
	return result(i), nil
})

// producer sends inputs next..n-1 on the jobs queue, recording its progress
// after each; a restarted producer resumes from there.
var producer = spawn.Register("chaos.producer", func(ctx context.Context, c *spawn.Child) error {
	o, err := openObjects(c.Segments()[0])
	if err != nil {
		return err
	}
	n, _ := strconv.ParseInt(c.Args()[0], 10, 64)
	var msg [8]byte
	for i := o.next.Load(); i < n; i = o.next.Load() {
		binary.LittleEndian.PutUint64(msg[:], uint64(i))
		if err := o.jobs.Send(ctx, msg[:]); err != nil {
			return err
		}
		o.next.Store(i + 1)
	}
	return nil
})

// run is one pipeline of n inputs under fire; it reports what it saw.
type report struct {
	workerKills, producerKills, duplicates int
	lost                                   int64
	repairs                                int64
	stats                                  spawn.PoolStats
}

func run(t *testing.T, n int, killEvery int) report {
	ctx := context.Background()
	seg, err := shm.CreateAnon(16 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	jobs, err := ring.NewQueue(seg, "jobs", ring.QueueOptions{Slots: 256, SlotSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"next", "progress", "repairs"} {
		if _, err := value.NewInt64(seg, name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := lock.NewMutex(seg, "tally.lock"); err != nil {
		t.Fatal(err)
	}
	if _, err := array.New[uint64](seg, "seen", (n+63)/64); err != nil {
		t.Fatal(err)
	}
	testutil.Overlay[tally](t, seg, "tally")
	o, err := openObjects(seg)
	if err != nil {
		t.Fatal(err)
	}

	pool, err := spawn.NewPool(ctx, spawn.PoolOptions{Workers: 3, Segments: []*shm.Segment{seg}, Retries: 5})
	if err != nil {
		t.Fatal(err)
	}
	var rep report

	// The producer, restarted whenever it is killed, until it has sent all.
	var prodMu sync.Mutex
	var prod *spawn.Process
	startProducer := func() {
		p, err := producer.Start(ctx, spawn.Options{Segments: []*shm.Segment{seg}, Args: []string{strconv.Itoa(n)}})
		if err != nil {
			t.Error(err)
			return
		}
		prodMu.Lock()
		prod = p
		prodMu.Unlock()
	}
	startProducer()
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		for {
			prodMu.Lock()
			p := prod
			prodMu.Unlock()
			if p == nil {
				return
			}
			err := p.Wait()
			var ee *spawn.ExitError
			if errors.As(err, &ee) && ee.Signal == syscall.SIGKILL {
				startProducer()
				continue
			}
			if err != nil {
				t.Errorf("producer: %v", err)
			}
			jobs.Close() // every input sent
			return
		}
	}()

	// The killer.
	stopKiller := make(chan struct{})
	killerDone := make(chan struct{})
	go func() {
		defer close(killerDone)
		rng := rand.New(rand.NewPCG(uint64(n), 42))
		dead := map[int]bool{}
		next := int64(killEvery)
		for {
			select {
			case <-stopKiller:
				return
			case <-time.After(200 * time.Microsecond): // polling progress; not synchronisation
			}
			if o.progress.Load() < next {
				continue
			}
			next += int64(killEvery/2 + rng.IntN(killEvery))
			if rng.IntN(8) == 0 {
				prodMu.Lock()
				p := prod
				prodMu.Unlock()
				if p != nil && p.Kill() == nil {
					rep.producerKills++
				}
				continue
			}
			pids := pool.Pids()
			if len(pids) == 0 {
				continue
			}
			if w := pids[rng.IntN(len(pids))]; !dead[w] {
				syscall.Kill(w, syscall.SIGKILL)
				dead[w] = true
				rep.workerKills++
			}
		}
	}()

	// Dispatch each input once; collect every result.
	type pending struct {
		i uint64
		f *spawn.Future[uint64]
	}
	futures := make(chan pending, 1024)
	received := make([]bool, n)
	collected := make(chan error, 1)
	outputs := make([]uint64, n)
	go func() {
		for p := range futures {
			r, err := p.f.Wait(ctx)
			if err != nil {
				collected <- fmt.Errorf("input %d: %w", p.i, err)
				for range futures {
				}
				return
			}
			outputs[p.i] = r
		}
		collected <- nil
	}()
	var msg []byte
	for {
		msg, err = jobs.Recv(ctx, msg)
		if errors.Is(err, ring.ErrClosed) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		i := binary.LittleEndian.Uint64(msg)
		if i >= uint64(n) {
			t.Fatalf("input %d out of range", i)
		}
		if received[i] {
			rep.duplicates++ // sent again by a restarted producer
			continue
		}
		received[i] = true
		f, err := work.Submit(ctx, pool, i)
		if err != nil {
			t.Fatal(err)
		}
		futures <- pending{i, f}
	}
	close(futures)
	if err := <-collected; err != nil {
		t.Fatal(err)
	}
	close(stopKiller)
	<-killerDone
	<-producerDone

	// Every input exactly once, with its result.
	for i := range received {
		if !received[i] {
			t.Fatalf("input %d never arrived (queue lost %d messages)", i, jobs.Lost())
		}
		if outputs[i] != result(uint64(i)) {
			t.Fatalf("input %d: result %d, want %d", i, outputs[i], result(uint64(i)))
		}
	}
	// The tally agrees, after a repair if its last holder died.
	if err := o.lockTally(ctx); err != nil {
		t.Fatal(err)
	}
	var wantSum uint64
	for i := 0; i < n; i++ {
		wantSum += result(uint64(i))
	}
	if o.tally.count != uint64(n) || o.tally.sum != wantSum {
		t.Fatalf("tally %d inputs, sum %d; want %d, %d", o.tally.count, o.tally.sum, n, wantSum)
	}
	o.mu.Unlock()
	rep.lost = jobs.Lost()
	if rep.lost > int64(rep.producerKills) || rep.duplicates > rep.producerKills {
		t.Fatalf("%d messages lost and %d duplicated with only %d producer kills", rep.lost, rep.duplicates, rep.producerKills)
	}
	rep.repairs = o.repairs.Load()
	// Reaping is asynchronous: the last kill may not be counted yet.
	testutil.WaitFor(t, testutil.Timeout, "the pool to see every kill", func() bool { return pool.Stats().Deaths >= rep.workerKills })
	rep.stats = pool.Stats()
	pids := pool.Pids()
	pool.Close()
	pool.Wait()
	for _, w := range pids {
		if proc.PidAlive(w) {
			t.Fatalf("worker %d still running after Close and Wait", w)
		}
	}
	return rep
}

func fds(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func TestChaos(t *testing.T) {
	fdsBefore, goroutinesBefore := fds(t), runtime.NumGoroutine()
	deadline := time.Now()
	if *long {
		d, err := time.ParseDuration(os.Getenv("SHMKIT_SOAK"))
		if err != nil {
			d = 10 * time.Minute
		}
		deadline = time.Now().Add(d)
	}
	var rss []int
	for round := 0; ; round++ {
		rep := run(t, testutil.Size(20_000, 4), 300)
		t.Logf("round %d: %d worker kills, %d producer kills, %d queue messages lost, %d duplicates, %d tally repairs; pool %+v",
			round, rep.workerKills, rep.producerKills, rep.lost, rep.duplicates, rep.repairs, rep.stats)
		if rep.workerKills == 0 || rep.stats.Deaths != rep.workerKills {
			t.Fatalf("round %d: %d kills, pool saw %d deaths", round, rep.workerKills, rep.stats.Deaths)
		}
		rss = append(rss, rssKiB(t))
		if time.Now().After(deadline) {
			break
		}
	}
	// Nothing left behind: goroutines and descriptors back to where they were.
	testutil.WaitFor(t, testutil.Timeout, "the pipeline's goroutines to end", func() bool {
		return runtime.NumGoroutine() <= goroutinesBefore
	})
	if after := fds(t); after != fdsBefore {
		t.Fatalf("%d open descriptors before, %d after", fdsBefore, after)
	}
	if len(rss) >= 4 {
		// Flat memory: the last quarter's mean within 25% of the second
		// quarter's (the first includes warming up).
		q := len(rss) / 4
		mean := func(xs []int) int {
			s := 0
			for _, x := range xs {
				s += x
			}
			return s / len(xs)
		}
		early, late := mean(rss[q:2*q]), mean(rss[len(rss)-q:])
		t.Logf("resident memory: %d KiB early, %d KiB late (%d rounds)", early, late, len(rss))
		if late > early+early/4 {
			t.Fatalf("resident memory grew from %d KiB to %d KiB", early, late)
		}
	}
}

// rssKiB returns this process's resident memory.
func rssKiB(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	var size, resident int
	fmt.Sscan(string(b), &size, &resident)
	return resident * os.Getpagesize() / 1024
}

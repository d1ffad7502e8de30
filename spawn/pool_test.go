//go:build linux

package spawn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/proc"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
	"github.com/shmkit/shmkit/value"
)

var (
	square = spawn.RegisterTask("square", func(ctx context.Context, x int) (int, error) { return x * x, nil })

	// picky fails on multiples of 13 and panics on multiples of 29.
	picky = spawn.RegisterTask("picky", func(ctx context.Context, x int) (int, error) {
		switch {
		case x > 0 && x%29 == 0:
			panic(fmt.Sprintf("no %d", x))
		case x > 0 && x%13 == 0:
			return 0, fmt.Errorf("unlucky %d", x)
		}
		return x + 1, nil
	})

	// pid returns the pid of the worker that ran it.
	pid = spawn.RegisterTask("pid", func(ctx context.Context, x int) (int, error) { return os.Getpid(), nil })

	// busy spins for about x microseconds, counts itself in the Int64
	// "done" of the pool's first user segment, and returns x.
	busy = spawn.RegisterTask("busy", func(ctx context.Context, x int) (int, error) {
		end := time.Now().Add(time.Duration(x) * time.Microsecond)
		for time.Now().Before(end) {
		}
		if segs := spawn.Segments(ctx); len(segs) > 0 {
			n, err := value.OpenInt64(segs[0], "done")
			if err != nil {
				return 0, err
			}
			n.Add(1)
		}
		return x, nil
	})

	// poison kills its own worker on input 7.
	poison = spawn.RegisterTask("poison", func(ctx context.Context, x int) (int, error) {
		if x == 7 {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		return x, nil
	})

	// echo returns its input, for payload sizes.
	echo = spawn.RegisterTask("echo", func(ctx context.Context, b []byte) ([]byte, error) {
		return bytes.ToUpper(b), nil
	})
)

func newPool(t *testing.T, opt spawn.PoolOptions) *spawn.Pool {
	t.Helper()
	p, err := spawn.NewPool(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Terminate(); p.Wait() })
	return p
}

func ints(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func TestPoolSquares(t *testing.T) {
	p := newPool(t, spawn.PoolOptions{Workers: 3})
	ctx := context.Background()
	in := ints(10_000)
	for _, chunk := range []int{0, 1, 7, 10_000} {
		out, err := square.MapChunks(ctx, p, in, chunk)
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		for i, v := range out {
			if v != i*i {
				t.Fatalf("chunk %d: square(%d) = %d", chunk, i, v)
			}
		}
	}
	// Unordered: every index once, with its square.
	seen := make([]bool, 1000)
	for r := range square.MapUnordered(ctx, p, in[:1000]) {
		if r.Err != nil || r.Value != r.Index*r.Index || seen[r.Index] {
			t.Fatalf("unordered result %+v (seen %v)", r, seen[r.Index])
		}
		seen[r.Index] = true
	}
	if i := slices.Index(seen, false); i >= 0 {
		t.Fatalf("unordered: input %d never came back", i)
	}
	// Submit.
	futures := make([]*spawn.Future[int], 50)
	for i := range futures {
		f, err := square.Submit(ctx, p, i)
		if err != nil {
			t.Fatal(err)
		}
		futures[i] = f
	}
	for i, f := range futures {
		if v, err := f.Wait(ctx); err != nil || v != i*i {
			t.Fatalf("future %d = %d, %v", i, v, err)
		}
	}
	if out, err := square.Map(ctx, p, nil); err != nil || len(out) != 0 {
		t.Fatalf("Map of nothing = %v, %v", out, err)
	}
}

func TestPoolTaskErrors(t *testing.T) {
	p := newPool(t, spawn.PoolOptions{Workers: 2})
	ctx := context.Background()
	_, err := picky.Map(ctx, p, ints(100))
	var te *spawn.TaskError
	if !errors.As(err, &te) || te.Index != 13 || te.Message != "unlucky 13" || te.Panic || te.Task != "picky" {
		t.Fatalf("Map = %v, want the error of input 13", err)
	}
	// Unordered: errors and panics reported per input, the rest computed.
	var failed, panicked, good int
	for r := range picky.MapUnordered(ctx, p, ints(100)) {
		switch {
		case r.Index%29 == 0 && r.Index > 0:
			if !errors.As(r.Err, &te) || !te.Panic || !strings.HasPrefix(te.Message, fmt.Sprintf("panic: no %d", r.Index)) {
				t.Fatalf("input %d: %v, want its panic", r.Index, r.Err)
			}
			panicked++
		case r.Index%13 == 0 && r.Index > 0:
			if !errors.As(r.Err, &te) || te.Index != r.Index || te.Message != fmt.Sprintf("unlucky %d", r.Index) {
				t.Fatalf("input %d: %v, want its error", r.Index, r.Err)
			}
			failed++
		default:
			if r.Err != nil || r.Value != r.Index+1 {
				t.Fatalf("input %d: %d, %v", r.Index, r.Value, r.Err)
			}
			good++
		}
	}
	if panicked != 3 || failed != 7 || good != 90 {
		t.Fatalf("%d panics, %d errors, %d good; want 3, 7, 90", panicked, failed, good)
	}
	if _, err := picky.Submit(ctx, p, 26); err != nil {
		t.Fatal(err)
	}
	// The pool is unharmed.
	if out, err := square.Map(ctx, p, ints(10)); err != nil || out[9] != 81 {
		t.Fatalf("Map after failures = %v, %v", out, err)
	}
	if p.Stats().Deaths != 0 {
		t.Fatalf("a task's error or panic killed a worker: %+v", p.Stats())
	}
}

// TestPoolWorkersKilled: a worker is killed with SIGKILL every 500 finished
// inputs of a 10 000-input Map; every result must still be right.
func TestPoolWorkersKilled(t *testing.T) {
	seg := testutil.Segment(t, 1<<16)
	done, err := value.NewInt64(seg, "done")
	if err != nil {
		t.Fatal(err)
	}
	p := newPool(t, spawn.PoolOptions{Workers: 3, Segments: []*shm.Segment{seg}})
	n := testutil.Size(10_000, 5)
	in := make([]int, n)
	for i := range in {
		in[i] = 20 + i%7 // microseconds of work
	}
	kills := 0
	stop := make(chan struct{})
	killed := make(chan int)
	go func() {
		next := int64(500)
		dead := map[int]bool{} // a killed worker is listed until it is reaped
		for {
			select {
			case <-stop:
				killed <- kills
				return
			default:
			}
			if done.Load() >= next {
				for _, w := range p.Pids() {
					if !dead[w] {
						syscall.Kill(w, syscall.SIGKILL)
						dead[w] = true
						kills++
						break
					}
				}
				next += 500
			}
			time.Sleep(200 * time.Microsecond) // polling the counter; not synchronisation
		}
	}()
	out, err := busy.Map(context.Background(), p, in)
	close(stop)
	k := <-killed
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range out {
		if v != in[i] {
			t.Fatalf("input %d: %d, want %d", i, v, in[i])
		}
	}
	// Replacing a worker is asynchronous: the last kill's may still run.
	testutil.WaitFor(t, testutil.Timeout, "every killed worker to be replaced", func() bool { return p.Stats().Replaced >= k })
	st := p.Stats()
	t.Logf("%d kills; stats %+v", k, st)
	if k == 0 || st.Deaths != k || st.Replaced != k || st.Retries == 0 {
		t.Fatalf("%d kills, stats %+v: want every kill counted, replaced, and retries made", k, st)
	}
}

func TestPoolPoison(t *testing.T) {
	p := newPool(t, spawn.PoolOptions{Workers: 2, Retries: 2})
	ctx := context.Background()
	var got []int
	var failure error
	for r := range poison.MapUnordered(ctx, p, ints(20)) {
		if r.Err != nil {
			if r.Index != 7 || failure != nil {
				t.Fatalf("unexpected failure of input %d: %v", r.Index, r.Err)
			}
			failure = r.Err
			continue
		}
		got = append(got, r.Value)
	}
	var te *spawn.TaskError
	var wd *spawn.WorkerDiedError
	var ee *spawn.ExitError
	if !errors.As(failure, &te) || te.Index != 7 || !errors.As(failure, &wd) || wd.Attempts != 3 ||
		!errors.As(failure, &ee) || ee.Signal != syscall.SIGKILL {
		t.Fatalf("input 7: %v; want a TaskError wrapping a WorkerDiedError after 3 deaths by SIGKILL", failure)
	}
	slices.Sort(got)
	if want := slices.DeleteFunc(ints(20), func(x int) bool { return x == 7 }); !slices.Equal(got, want) {
		t.Fatalf("results %v, want %v", got, want)
	}
	if st := p.Stats(); st.Deaths != 3 {
		t.Fatalf("stats %+v, want 3 deaths", st)
	}
	// The pool serves the next Map.
	if out, err := square.Map(ctx, p, ints(100)); err != nil || out[99] != 99*99 {
		t.Fatalf("Map after the poison = %v", err)
	}
}

func TestPoolMaxTasksPerWorker(t *testing.T) {
	p := newPool(t, spawn.PoolOptions{Workers: 2, MaxTasksPerWorker: 10})
	pids, err := pid.MapChunks(context.Background(), p, ints(200), 1)
	if err != nil {
		t.Fatal(err)
	}
	count := map[int]int{}
	for _, x := range pids {
		count[x]++
	}
	for w, c := range count {
		if c > 10 {
			t.Fatalf("worker %d ran %d inputs, more than MaxTasksPerWorker", w, c)
		}
	}
	if len(count) < 20 {
		t.Fatalf("%d distinct workers ran 200 inputs, want at least 20", len(count))
	}
	if st := p.Stats(); st.Replaced < 18 || st.Deaths != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPoolTerminate(t *testing.T) {
	seg := testutil.Segment(t, 1<<16)
	done, err := value.NewInt64(seg, "done")
	if err != nil {
		t.Fatal(err)
	}
	p, err := spawn.NewPool(context.Background(), spawn.PoolOptions{Workers: 2, Segments: []*shm.Segment{seg}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []proc.Identity
	for _, x := range p.Pids() {
		st, err := proc.StartTime(x)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, proc.Make(x, st))
	}
	errc := make(chan error, 1)
	go func() {
		_, err := busy.MapChunks(context.Background(), p, slices.Repeat([]int{2000}, 1000), 1) // ~1 s of work
		errc <- err
	}()
	testutil.WaitFor(t, testutil.Timeout, "the workers to start on the Map", func() bool { return done.Load() > 0 })
	t0 := time.Now()
	p.Terminate()
	took := time.Since(t0)
	if err := <-errc; !errors.Is(err, spawn.ErrTerminated) {
		t.Fatalf("Map during Terminate = %v, want ErrTerminated", err)
	}
	for _, id := range ids {
		if proc.Alive(id) {
			t.Fatalf("worker %d still running after Terminate", id.Pid())
		}
	}
	t.Logf("Terminate took %v", took)
	if took > time.Second {
		t.Fatalf("Terminate took %v", took)
	}
	if _, err := square.Map(context.Background(), p, ints(3)); !errors.Is(err, spawn.ErrPoolClosed) {
		t.Fatalf("Map after Terminate = %v, want ErrPoolClosed", err)
	}
	p.Wait()
}

func TestPoolCancel(t *testing.T) {
	p := newPool(t, spawn.PoolOptions{Workers: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := busy.Map(ctx, p, slices.Repeat([]int{1000}, 2000)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Map past its deadline = %v", err)
	}
	if out, err := square.Map(context.Background(), p, ints(50)); err != nil || out[49] != 49*49 {
		t.Fatalf("Map after a cancelled one = %v", err)
	}
	// A future whose context ends reports it.
	fctx, fcancel := context.WithCancel(context.Background())
	f, err := busy.Submit(fctx, p, 200_000)
	if err != nil {
		t.Fatal(err)
	}
	fcancel()
	if _, err := f.Wait(context.Background()); !errors.Is(err, context.Canceled) {
		t.Fatalf("future of a cancelled Submit = %v", err)
	}
}

func TestPoolClose(t *testing.T) {
	p, err := spawn.NewPool(context.Background(), spawn.PoolOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	pids := p.Pids()
	// Calls made before Close finish; the workers exit after them.
	var futures []*spawn.Future[int]
	for i := 0; i < 100; i++ {
		f, err := busy.Submit(context.Background(), p, 200+i)
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	p.Close()
	p.Close()
	if _, err := square.Submit(context.Background(), p, 1); !errors.Is(err, spawn.ErrPoolClosed) {
		t.Fatalf("Submit after Close = %v", err)
	}
	p.Wait()
	for i, f := range futures {
		select {
		case <-f.Done():
		default:
			t.Fatalf("future %d not done when Wait returned", i)
		}
		if v, err := f.Wait(context.Background()); err != nil || v != 200+i {
			t.Fatalf("future %d = %d, %v", i, v, err)
		}
	}
	for _, x := range pids {
		if proc.PidAlive(x) {
			t.Fatalf("worker %d still running after Close and Wait", x)
		}
	}
}

// TestPoolLargePayloads: payloads larger than a ring or a result slot come
// back whole, with small result slots, and with result slots just over
// ring.AlignFrom bytes (whose messages start at byte 64 of the slot) in a
// slot count that the queue rounds up to a power of two: the pool's
// segment must hold that queue.
func TestPoolLargePayloads(t *testing.T) {
	for _, c := range []struct{ slots, size int }{{4, 1024}, {5, ring.AlignFrom + 8}} {
		t.Run(fmt.Sprintf("slots=%d/size=%d", c.slots, c.size), func(t *testing.T) {
			p := newPool(t, spawn.PoolOptions{Workers: 2, RingBytes: 64 << 10, ResultSlots: c.slots, ResultSlotSize: c.size})
			var in [][]byte
			for _, n := range []int{0, 1, 1000, 64 << 10, 1 << 20, 3<<20 + 5} {
				in = append(in, bytes.Repeat([]byte("ab"), n/2))
			}
			out, err := echo.Map(context.Background(), p, in)
			if err != nil {
				t.Fatal(err)
			}
			for i := range in {
				if !bytes.Equal(out[i], bytes.ToUpper(in[i])) {
					t.Fatalf("payload %d: %d bytes back, want %d", i, len(out[i]), len(in[i]))
				}
			}
		})
	}
}

var logTask = spawn.RegisterTask("logTask", func(ctx context.Context, x int) (int, error) {
	spawn.Logger(ctx).Info("working", "x", x)
	return x, nil
})

func TestPoolLogging(t *testing.T) {
	rec := &recorder{}
	p, err := spawn.NewPool(context.Background(), spawn.PoolOptions{Workers: 2, Logger: slog.New(rec)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := logTask.Map(context.Background(), p, ints(10)); err != nil {
		t.Fatal(err)
	}
	p.Close()
	p.Wait()
	if len(rec.recs) != 10 {
		t.Fatalf("%d records, want 10", len(rec.recs))
	}
	var xs []int
	for _, r := range rec.recs {
		if r.Message != "working" || !strings.Contains(attrs(r), "child=spawn.pool.worker(String)") {
			t.Fatalf("record %q %s", r.Message, attrs(r))
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "x" {
				xs = append(xs, int(a.Value.Int64()))
			}
			return true
		})
	}
	slices.Sort(xs)
	if !slices.Equal(xs, ints(10)) {
		t.Fatalf("logged inputs %v", xs)
	}
}

// A task registered in the parent only: workers answer that they lack it.
var parentOnly = func() *spawn.Task[int, int] {
	if _, child := os.LookupEnv("SHMKIT_SPAWN_FUNC"); child {
		return nil
	}
	return spawn.RegisterTask("parentOnly", func(ctx context.Context, x int) (int, error) { return x, nil })
}()

func TestPoolUnregisteredTask(t *testing.T) {
	p := newPool(t, spawn.PoolOptions{Workers: 1})
	_, err := parentOnly.Map(context.Background(), p, ints(3))
	var te *spawn.TaskError
	if !errors.As(err, &te) || !strings.Contains(te.Message, "not registered in the worker") {
		t.Fatalf("Map of an unregistered task = %v", err)
	}
}

type point struct {
	X, Y int32
	Tag  [4]byte
}

type record struct {
	Name  string
	Items []int
}

var (
	shift = spawn.RegisterTask("shift", func(ctx context.Context, p point) (point, error) {
		return point{p.X + 1, p.Y + 1, p.Tag}, nil
	})
	describe = spawn.RegisterTask("describe", func(ctx context.Context, r record) (string, error) {
		return fmt.Sprintf("%s:%d", r.Name, len(r.Items)), nil
	})
	describeJSON = spawn.RegisterTaskCodec("describeJSON", func(ctx context.Context, r record) (record, error) {
		r.Items = append(r.Items, len(r.Name))
		return r, nil
	}, spawn.JSONCodec[record]{}, spawn.JSONCodec[record]{})
)

func TestPoolCodecs(t *testing.T) {
	p := newPool(t, spawn.PoolOptions{Workers: 1})
	ctx := context.Background()
	pts, err := shift.Map(ctx, p, []point{{1, 2, [4]byte{'a'}}, {-5, 7, [4]byte{'z'}}})
	if err != nil || pts[0] != (point{2, 3, [4]byte{'a'}}) || pts[1] != (point{-4, 8, [4]byte{'z'}}) {
		t.Fatalf("binary codec: %v, %v", pts, err)
	}
	s, err := describe.Map(ctx, p, []record{{"a", []int{1, 2}}, {"bb", nil}})
	if err != nil || !slices.Equal(s, []string{"a:2", "bb:0"}) {
		t.Fatalf("gob codec: %v, %v", s, err)
	}
	rs, err := describeJSON.Map(ctx, p, []record{{"abc", []int{9}}})
	if err != nil || rs[0].Name != "abc" || !slices.Equal(rs[0].Items, []int{9, 3}) {
		t.Fatalf("json codec: %v, %v", rs, err)
	}
}

var childSleeper = spawn.Register("TestWaitAny", func(ctx context.Context, c *spawn.Child) error {
	if c.Args()[0] == "fast" {
		return nil
	}
	<-ctx.Done()
	return nil
})

func TestWaitAny(t *testing.T) {
	ctx := context.Background()
	slow, err := childSleeper.Start(ctx, spawn.Options{Args: []string{"slow"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { slow.Kill(); slow.Wait() }()
	fast, err := childSleeper.Start(ctx, spawn.Options{Args: []string{"fast"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := spawn.WaitAny(ctx, slow, fast); err != nil || got != fast {
		t.Fatalf("WaitAny = %v, %v; want the fast child", got, err)
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if got, err := spawn.WaitAny(tctx, slow); got != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitAny past its deadline = %v, %v", got, err)
	}
}

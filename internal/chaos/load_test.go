//go:build linux

package chaos_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/event"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
	"github.com/shmkit/shmkit/value"
)

// Many waiters: loadProcs processes × loadPer goroutines block on one
// object; the parent releases them; every one must wake, once.
const loadProcs = 4

func loadPer() int { return testutil.Size(250, 5) }

// threads returns this process's number of OS threads.
func threads() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Threads:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return -1
}

// childWaiters starts args[1] goroutines that each wait once on the object
// of kind args[0], counting themselves in "waiting" before and "woken"
// after, and records the most OS threads it had in "threads".
var childWaiters = spawn.Register("TestManyWaiters", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	kind := c.Args()[0]
	n, _ := strconv.Atoi(c.Args()[1])
	waiting, _ := value.OpenInt64(seg, "waiting")
	woken, _ := value.OpenInt64(seg, "woken")
	maxThreads, _ := value.OpenInt64(seg, "threads")
	bits, err := shm.OpenBytes(seg, "bits")
	if err != nil {
		return err
	}
	var wait func() error
	switch kind {
	case "event":
		e, err := event.Open(seg, "e")
		if err != nil {
			return err
		}
		wait = func() error { return e.Wait(ctx) }
	case "semaphore":
		s, err := semaphore.Open(seg, "s")
		if err != nil {
			return err
		}
		wait = func() error { return s.Acquire(ctx) }
	case "queue":
		q, err := ring.OpenQueue(seg, "q")
		if err != nil {
			return err
		}
		wait = func() error {
			m, err := q.Recv(ctx, nil)
			if err != nil {
				return err
			}
			// Each message once: set its bit, counting any set twice.
			i := binary.LittleEndian.Uint32(m)
			w := (*uint32)(unsafe.Pointer(&bits[i/32*4]))
			for {
				old := atomic.LoadUint32(w)
				if old&(1<<(i%32)) != 0 {
					return fmt.Errorf("message %d received twice", i)
				}
				if casUint32(w, old, old|1<<(i%32)) {
					return nil
				}
			}
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			waiting.Add(1)
			if err := wait(); err != nil {
				errs <- err
				return
			}
			woken.Add(1)
		}()
	}
	// While they wait, note the thread count.
	if err := testutil.Await("every goroutine to wait", func() bool { return waiting.Load() >= int64(n) }); err != nil {
		return err
	}
	for {
		t, m := threads(), maxThreads.Load()
		if t <= m || maxThreads.CompareAndSwap(m, t) {
			break
		}
	}
	wg.Wait()
	close(errs)
	return <-errs
})

func TestManyWaiters(t *testing.T) {
	per := loadPer()
	total := loadProcs * per
	for _, kind := range []string{"event", "semaphore", "queue"} {
		t.Run(kind, func(t *testing.T) {
			seg := testutil.Segment(t, 8<<20)
			waiting, _ := value.NewInt64(seg, "waiting")
			woken, _ := value.NewInt64(seg, "woken")
			maxThreads, _ := value.NewInt64(seg, "threads")
			if _, err := shm.NewBytes(seg, "bits", (total+31)/32*4); err != nil {
				t.Fatal(err)
			}
			var release func() error
			switch kind {
			case "event":
				e, err := event.New(seg, "e")
				if err != nil {
					t.Fatal(err)
				}
				release = func() error { e.Set(); return nil }
			case "semaphore":
				s, err := semaphore.New(seg, "s", 0)
				if err != nil {
					t.Fatal(err)
				}
				release = func() error {
					for i := 0; i < total; i++ {
						if err := s.Release(); err != nil {
							return err
						}
					}
					return nil
				}
			case "queue":
				q, err := ring.NewQueue(seg, "q", ring.QueueOptions{Slots: 64, SlotSize: 8})
				if err != nil {
					t.Fatal(err)
				}
				release = func() error {
					var m [4]byte
					for i := 0; i < total; i++ {
						binary.LittleEndian.PutUint32(m[:], uint32(i))
						if err := q.Send(context.Background(), m[:]); err != nil {
							return err
						}
					}
					return nil
				}
			}
			var ps []*spawn.Process
			for i := 0; i < loadProcs; i++ {
				p, err := childWaiters.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}, Args: []string{kind, strconv.Itoa(per)}})
				if err != nil {
					t.Fatal(err)
				}
				ps = append(ps, p)
			}
			testutil.WaitFor(t, testutil.Timeout, "every waiter to start waiting", func() bool { return waiting.Load() == int64(total) })
			if err := release(); err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				if err := p.Wait(); err != nil {
					t.Fatal(err)
				}
			}
			if got := woken.Load(); got != int64(total) {
				t.Fatalf("%d of %d waiters woke", got, total)
			}
			// Each blocked goroutine holds an OS thread while it sleeps
			// in the kernel: the count is bounded by the waiters, plus the
			// runtime's own few.
			th := maxThreads.Load()
			t.Logf("%d waiters in %d processes woke; at most %d OS threads in one process", total, loadProcs, th)
			if th > int64(per)+32 {
				t.Fatalf("a process with %d waiting goroutines had %d threads", per, th)
			}
		})
	}
}

func casUint32(p *uint32, old, new uint32) bool { return atomic.CompareAndSwapUint32(p, old, new) }

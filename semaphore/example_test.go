//go:build linux

package semaphore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync/atomic"
	"unsafe"

	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

// exampleWorker uses one of the semaphore's units, recording the most
// holders it saw at once.
var exampleWorker = spawn.Register("Example.worker", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	s, err := semaphore.Open(seg, "slots")
	if err != nil {
		return err
	}
	b, err := shm.OpenBytes(seg, "stats")
	if err != nil {
		return err
	}
	inside := (*int32)(unsafe.Pointer(&b[0]))
	most := (*int32)(unsafe.Pointer(&b[4]))
	for i := 0; i < 100; i++ {
		if err := s.Acquire(ctx); err != nil {
			return err
		}
		n := atomic.AddInt32(inside, 1)
		for m := atomic.LoadInt32(most); n > m && !atomic.CompareAndSwapInt32(most, m, n); m = atomic.LoadInt32(most) {
		}
		atomic.AddInt32(inside, -1)
		if err := s.Release(); err != nil {
			return err
		}
	}
	return nil
})

// Four processes share two units of a bounded semaphore: at most two of
// them hold one at a time.
func Example() {
	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	s, err := semaphore.NewBounded(seg, "slots", 2)
	if err != nil {
		log.Fatal(err)
	}
	b, err := shm.NewBytes(seg, "stats", 8)
	if err != nil {
		log.Fatal(err)
	}
	var ps []*spawn.Process
	for i := 0; i < 4; i++ {
		p, err := exampleWorker.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}})
		if err != nil {
			log.Fatal(err)
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		if err := p.Wait(); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("at most 2 at once:", atomic.LoadInt32((*int32)(unsafe.Pointer(&b[4]))) <= 2)
	fmt.Println("units available:", s.Value())
	err = s.Release() // one more than was acquired
	fmt.Println(errors.Is(err, semaphore.ErrOverRelease))
	// Output:
	// at most 2 at once: true
	// units available: 2
	// true
}

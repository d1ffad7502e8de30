// Counter increments a shared counter from four processes, three ways:
// Python's
//
//	with counter.get_lock():
//	    counter.value += 1
//
// (a Value and its lock), a separate Lock around a plain counter, and a
// lock-free atomic integer. Each ends exact.
//
//	go run ./docs/examples/counter
//
// Output:
//
//	Value.Update:  40000
//	Mutex:         40000
//	Int64.Add:     40000
package main

import (
	"context"
	"fmt"
	"log"
	"unsafe"

	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
	"github.com/shmkit/shmkit/value"
)

const processes, increments = 4, 10_000

// increment adds 1 to each counter increments times.
var increment = spawn.Register("increment", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	v, err := value.Open[int64](seg, "value") // Value('q', 0) with its lock
	if err != nil {
		return err
	}
	mu, err := lock.OpenMutex(seg, "lock") // a Lock...
	if err != nil {
		return err
	}
	raw, err := shm.OpenBytes(seg, "plain") // ...around a plain counter
	if err != nil {
		return err
	}
	plain := (*int64)(unsafe.Pointer(&raw[0]))
	n, err := value.OpenInt64(seg, "atomic") // lock-free
	if err != nil {
		return err
	}
	for i := 0; i < increments; i++ {
		v.Update(func(x *int64) { *x++ })
		mu.Lock()
		*plain++
		mu.Unlock()
		n.Add(1)
	}
	return nil
})

func main() {
	spawn.Main()

	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	v, err := value.New[int64](seg, "value")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := lock.NewMutex(seg, "lock"); err != nil {
		log.Fatal(err)
	}
	raw, err := shm.NewBytes(seg, "plain", 8)
	if err != nil {
		log.Fatal(err)
	}
	n, err := value.NewInt64(seg, "atomic")
	if err != nil {
		log.Fatal(err)
	}

	var procs []*spawn.Process
	for i := 0; i < processes; i++ {
		p, err := increment.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}})
		if err != nil {
			log.Fatal(err)
		}
		procs = append(procs, p)
	}
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("Value.Update: ", v.Load())
	fmt.Println("Mutex:        ", *(*int64)(unsafe.Pointer(&raw[0])))
	fmt.Println("Int64.Add:    ", n.Load())
}

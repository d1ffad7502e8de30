// Quickstart is the README's example: four processes add to one counter in
// shared memory, Python's Value('i', 0) with get_lock(), without the lock.
//
//	go run ./docs/examples/quickstart
//
// Output:
//
//	4 processes counted to 40000
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
	"github.com/shmkit/shmkit/value"
)

// count runs in each child process: it opens the counter by name and adds.
var count = spawn.Register("count", func(ctx context.Context, c *spawn.Child) error {
	n, err := value.OpenInt64(c.Segments()[0], "n")
	if err != nil {
		return err
	}
	for i := 0; i < 10_000; i++ {
		n.Add(1) // one atomic instruction on shared memory
	}
	return nil
})

func main() {
	spawn.Main() // in a child: runs count, then exits

	seg, err := shm.CreateAnon(1 << 20) // shared memory that cannot leak
	if err != nil {
		log.Fatal(err)
	}
	n, err := value.NewInt64(seg, "n")
	if err != nil {
		log.Fatal(err)
	}
	var procs []*spawn.Process
	for i := 0; i < 4; i++ {
		p, err := count.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}})
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
	fmt.Printf("%d processes counted to %d\n", len(procs), n.Load())
}

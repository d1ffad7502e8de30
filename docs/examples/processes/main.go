// Processes starts two child processes that each print their name and
// process id, and waits for both: Python's
//
//	p1 = multiprocessing.Process(target=worker, args=("Alice",)); p1.start()
//	p2 = multiprocessing.Process(target=worker, args=("Bob",)); p2.start()
//	p1.join(); p2.join()
//
// The children run at the same time, so their lines come in either order;
// spawn prefixes each line a child prints with its name and pid.
//
//	go run ./docs/examples/processes
//
// Unordered output:
//
//	main process <pid>
//	[worker <pid>] worker Alice: my process ID is <pid>
//	[worker <pid>] worker Bob: my process ID is <pid>
//	all worker processes finished
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/shmkit/shmkit/spawn"
)

// worker runs in each child: Python's target function. Its arguments
// arrive in c.Args().
var worker = spawn.Register("worker", func(ctx context.Context, c *spawn.Child) error {
	fmt.Printf("worker %s: my process ID is %d\n", c.Args()[0], os.Getpid())
	return nil
})

func main() {
	spawn.Main() // in a child: runs worker, then exits

	fmt.Println("main process", os.Getpid())
	ctx := context.Background()
	var procs []*spawn.Process
	for _, name := range []string{"Alice", "Bob"} {
		p, err := worker.Start(ctx, spawn.Options{Args: []string{name}}) // start()
		if err != nil {
			log.Fatal(err)
		}
		procs = append(procs, p)
	}
	for _, p := range procs {
		if err := p.Wait(); err != nil { // join(); a failed child is an error
			log.Fatal(err)
		}
	}
	fmt.Println("all worker processes finished")
}

// Pool computes squares in a pool of worker processes: Python's
//
//	with multiprocessing.Pool(processes=3) as pool:
//	    print(pool.map(square, [1, 2, 3, 4, 5]))
//
// then the same with imap_unordered and apply_async.
//
//	go run ./docs/examples/pool
//
// Output:
//
//	[1 4 9 16 25]
//	sum of squares of 1..1000: 333833500
//	square(12) = 144
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/shmkit/shmkit/spawn"
)

// square is registered as a task: the workers run it.
var square = spawn.RegisterTask("square", func(ctx context.Context, n int) (int, error) {
	return n * n, nil
})

func main() {
	spawn.Main() // in a worker: serves tasks, then exits

	ctx := context.Background()
	pool, err := spawn.NewPool(ctx, spawn.PoolOptions{Workers: 3})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { pool.Close(); pool.Wait() }()

	// pool.map: results in the order of the inputs.
	results, err := square.Map(ctx, pool, []int{1, 2, 3, 4, 5})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(results)

	// pool.imap_unordered: results as workers finish them.
	numbers := make([]int, 1000)
	for i := range numbers {
		numbers[i] = i + 1
	}
	sum := 0
	for r := range square.MapUnordered(ctx, pool, numbers) {
		if r.Err != nil {
			log.Fatal(r.Err)
		}
		sum += r.Value
	}
	fmt.Println("sum of squares of 1..1000:", sum)

	// pool.apply_async(...).get()
	f, err := square.Submit(ctx, pool, 12)
	if err != nil {
		log.Fatal(err)
	}
	v, err := f.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("square(12) = %d\n", v)
}

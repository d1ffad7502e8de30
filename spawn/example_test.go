//go:build linux

package spawn_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/shmkit/shmkit/spawn"
)

var exampleSquare = spawn.Register("Example.square", func(ctx context.Context, c *spawn.Child) error {
	if c.Args()[0] != "7" {
		return fmt.Errorf("expected 7, got %s", c.Args()[0])
	}
	return spawn.ExitCode(49 % 256)
})

var exampleFail = spawn.Register("Example.fail", func(ctx context.Context, c *spawn.Child) error {
	return errors.New("no input file")
})

// Start a child, wait for it, read its outcome.
func Example() {
	ctx := context.Background()
	p, err := exampleSquare.Start(ctx, spawn.Options{Args: []string{"7"}})
	if err != nil {
		log.Fatal(err)
	}
	p.Wait()
	fmt.Println("exit code", p.ExitCode())

	p, err = exampleFail.Start(ctx, spawn.Options{})
	if err != nil {
		log.Fatal(err)
	}
	var ee *spawn.ExitError
	if err := p.Wait(); errors.As(err, &ee) {
		fmt.Println("failed with code", ee.Code, "saying:", ee.Message)
	}
	// Output:
	// exit code 49
	// failed with code 1 saying: no input file
}

var exampleSquare2 = spawn.RegisterTask("ExampleTask_Map.square", func(ctx context.Context, x int) (int, error) {
	return x * x, nil
})

// Python's pool.map(square, range(10)).
func ExampleTask_Map() {
	ctx := context.Background()
	pool, err := spawn.NewPool(ctx, spawn.PoolOptions{Workers: 3})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { pool.Close(); pool.Wait() }()

	numbers := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	squares, err := exampleSquare2.Map(ctx, pool, numbers)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(squares)
	// Output: [0 1 4 9 16 25 36 49 64 81]
}

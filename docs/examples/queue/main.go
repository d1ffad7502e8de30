// Queue is the producer/consumer pattern with a task queue and a result
// queue shared by worker processes: Python's
//
//	tasks, results = multiprocessing.Queue(), multiprocessing.Queue()
//	workers take tasks, put results; the main process puts tasks and
//	collects the results
//
// Closing the task queue tells the workers there is no more work, in place
// of Python's sentinel values.
//
//	go run ./docs/examples/queue
//
// Output:
//
//	apple has 5 letters
//	banana has 6 letters
//	cherry has 6 letters
//	date has 4 letters
//	elderberry has 10 letters
//	fig has 3 letters
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"slices"

	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

// worker counts the letters of each word it takes from "tasks" and puts the
// answer on "results", until "tasks" is closed and empty.
var worker = spawn.Register("worker", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	tasks, err := ring.OpenQueue(seg, "tasks")
	if err != nil {
		return err
	}
	results, err := ring.OpenQueue(seg, "results")
	if err != nil {
		return err
	}
	var word []byte
	for {
		word, err = tasks.Recv(ctx, word)
		if errors.Is(err, ring.ErrClosed) {
			return nil // no more tasks
		}
		if err != nil {
			return err
		}
		answer := fmt.Sprintf("%s has %d letters", word, len(word))
		if err := results.Send(ctx, []byte(answer)); err != nil {
			return err
		}
	}
})

func main() {
	spawn.Main()

	ctx := context.Background()
	seg, err := shm.CreateAnon(1 << 20) // anonymous shared memory for the queues
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	tasks, err := ring.NewQueue(seg, "tasks", ring.QueueOptions{Slots: 64, SlotSize: 64})
	if err != nil {
		log.Fatal(err)
	}
	results, err := ring.NewQueue(seg, "results", ring.QueueOptions{Slots: 64, SlotSize: 64})
	if err != nil {
		log.Fatal(err)
	}

	var workers []*spawn.Process
	for i := 0; i < 3; i++ {
		p, err := worker.Start(ctx, spawn.Options{Segments: []*shm.Segment{seg}})
		if err != nil {
			log.Fatal(err)
		}
		workers = append(workers, p)
	}
	words := []string{"apple", "banana", "cherry", "date", "elderberry", "fig"}
	for _, w := range words {
		if err := tasks.Send(ctx, []byte(w)); err != nil {
			log.Fatal(err)
		}
	}
	tasks.Close() // no more tasks: workers finish and exit

	var answers []string
	for range words {
		msg, err := results.Recv(ctx, nil)
		if err != nil {
			log.Fatal(err)
		}
		answers = append(answers, string(msg))
	}
	for _, p := range workers {
		if err := p.Wait(); err != nil {
			log.Fatal(err)
		}
	}
	slices.Sort(answers) // workers finish in any order
	for _, a := range answers {
		fmt.Println(a)
	}
}

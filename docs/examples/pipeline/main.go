// Pipeline is a full producer → workers → collector pipeline: the main
// process produces numbers into a queue, three worker processes test them
// for primality and send results on a second queue, and a collector
// goroutine tallies them while a progress line updates on stderr.
//
//	go run ./docs/examples/pipeline
//
// Output:
//
//	checked 100000 numbers: 9592 primes, largest 99991
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
	"github.com/shmkit/shmkit/value"
)

const total = 100_000

func isPrime(n uint64) bool {
	if n < 2 {
		return false
	}
	for d := uint64(2); d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}

// worker takes numbers from "in" and sends (number, is prime) on "out".
var worker = spawn.Register("worker", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	in, err := ring.OpenQueue(seg, "in")
	if err != nil {
		return err
	}
	out, err := ring.OpenQueue(seg, "out")
	if err != nil {
		return err
	}
	var msg []byte
	var res [9]byte
	for {
		msg, err = in.Recv(ctx, msg)
		if errors.Is(err, ring.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		n := binary.LittleEndian.Uint64(msg)
		binary.LittleEndian.PutUint64(res[:], n)
		res[8] = 0
		if isPrime(n) {
			res[8] = 1
		}
		if err := out.Send(ctx, res[:]); err != nil {
			return err
		}
	}
})

func main() {
	spawn.Main()

	ctx := context.Background()
	seg, err := shm.CreateAnon(4 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	in, err := ring.NewQueue(seg, "in", ring.QueueOptions{Slots: 1024, SlotSize: 8})
	if err != nil {
		log.Fatal(err)
	}
	out, err := ring.NewQueue(seg, "out", ring.QueueOptions{Slots: 1024, SlotSize: 9})
	if err != nil {
		log.Fatal(err)
	}
	progress, err := value.NewInt64(seg, "progress")
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

	// The collector: counts results, keeps the progress counter.
	type tally struct{ primes, largest uint64 }
	done := make(chan tally)
	go func() {
		var t tally
		var msg []byte
		for i := 0; i < total; i++ {
			var err error
			if msg, err = out.Recv(ctx, msg); err != nil {
				log.Fatal(err)
			}
			if msg[8] == 1 {
				t.primes++
				t.largest = max(t.largest, binary.LittleEndian.Uint64(msg))
			}
			if n := progress.Add(1); n%10_000 == 0 {
				fmt.Fprintf(os.Stderr, "\rprogress: %3d%%", n*100/total)
			}
		}
		fmt.Fprintln(os.Stderr)
		done <- t
	}()

	// The producer.
	var msg [8]byte
	for n := uint64(1); n <= total; n++ {
		binary.LittleEndian.PutUint64(msg[:], n)
		if err := in.Send(ctx, msg[:]); err != nil {
			log.Fatal(err)
		}
	}
	in.Close()
	t := <-done
	for _, p := range workers {
		if err := p.Wait(); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("checked %d numbers: %d primes, largest %d\n", total, t.primes, t.largest)
}

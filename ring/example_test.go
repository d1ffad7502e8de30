//go:build linux

package ring_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"

	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

// exampleWorker squares the numbers it receives on the queue "jobs" and
// sends the results on "results", until the jobs queue is closed.
var exampleWorker = spawn.Register("ExampleQueue.worker", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	jobs, err := ring.OpenQueue(seg, "jobs")
	if err != nil {
		return err
	}
	results, err := ring.OpenQueue(seg, "results")
	if err != nil {
		return err
	}
	var buf []byte
	for {
		buf, err = jobs.Recv(ctx, buf)
		if errors.Is(err, ring.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		var n int
		fmt.Sscan(string(buf), &n)
		if err := results.Send(ctx, []byte(fmt.Sprint(n*n))); err != nil {
			return err
		}
	}
})

// A queue of jobs shared by worker processes.
func ExampleQueue() {
	ctx := context.Background()
	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	jobs, _ := ring.NewQueue(seg, "jobs", ring.QueueOptions{Slots: 64, SlotSize: 32})
	results, _ := ring.NewQueue(seg, "results", ring.QueueOptions{Slots: 64, SlotSize: 32})

	var workers []*spawn.Process
	for i := 0; i < 2; i++ {
		p, err := exampleWorker.Start(ctx, spawn.Options{Segments: []*shm.Segment{seg}})
		if err != nil {
			log.Fatal(err)
		}
		workers = append(workers, p)
	}
	for n := 1; n <= 5; n++ {
		jobs.Send(ctx, []byte(fmt.Sprint(n)))
	}
	jobs.Close()
	sum := 0
	for i := 0; i < 5; i++ {
		buf, err := results.Recv(ctx, nil)
		if err != nil {
			log.Fatal(err)
		}
		var sq int
		fmt.Sscan(string(buf), &sq)
		sum += sq
	}
	for _, p := range workers {
		p.Wait()
	}
	fmt.Println("sum of squares:", sum)
	// Output: sum of squares: 55
}

// Zero-copy: the producer builds the message inside the ring, the consumer
// reads it in place.
func ExampleSPSC() {
	ctx := context.Background()
	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	r, err := ring.NewSPSC(seg, "stream", 64<<10)
	if err != nil {
		log.Fatal(err)
	}

	buf, err := r.Reserve(ctx, 64) // room for up to 64 bytes, in the ring
	if err != nil {
		log.Fatal(err)
	}
	n := copy(buf, "built in place")
	r.Commit(n) // publish the first n bytes

	msg, err := r.Peek(ctx) // the message, in the ring
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (%d bytes)\n", msg, len(msg))
	r.Release()
	// Output: built in place (14 bytes)
}

var exampleEcho = spawn.Register("ExampleConn.echo", func(ctx context.Context, c *spawn.Child) error {
	conn, err := ring.OpenPipe(c.Segments()[0], "pipe")
	if err != nil {
		return err
	}
	var buf []byte
	for {
		buf, err = conn.Recv(ctx, buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		conn.Send(ctx, append([]byte("echo: "), buf...))
	}
})

// A pipe between a parent and a child, like Python's multiprocessing.Pipe.
func ExampleConn() {
	ctx := context.Background()
	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	conn, err := ring.NewPipe(seg, "pipe", 4096) // end 0
	if err != nil {
		log.Fatal(err)
	}
	p, err := exampleEcho.Start(ctx, spawn.Options{Segments: []*shm.Segment{seg}})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range []string{"ping", "pong"} {
		conn.Send(ctx, []byte(m))
		reply, _ := conn.Recv(ctx, nil)
		fmt.Println(string(reply))
	}
	conn.Close() // the child's Recv returns io.EOF
	if err := p.Wait(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// echo: ping
	// echo: pong
}

// Compress large messages on the way through a ring.
func ExampleCompress() {
	ctx := context.Background()
	seg, _ := shm.CreateAnon(1 << 20)
	defer seg.Close()
	r, _ := ring.NewSPSC(seg, "r", 64<<10)
	c := ring.Compress(r, ring.CompressOptions{Threshold: 512}) // both ends wrap

	text := make([]byte, 10000)
	for i := range text {
		text[i] = "abcd"[i%4]
	}
	c.Send(ctx, text)
	got, _ := c.Recv(ctx, nil)
	fmt.Println(len(got), string(got[:8]))
	// Output: 10000 abcdabcd
}

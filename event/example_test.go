//go:build linux

package event_test

import (
	"context"
	"fmt"
	"log"
	"sort"
	"sync/atomic"
	"unsafe"

	"github.com/shmkit/shmkit/event"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

// exampleWaiter waits for the "start" event, then records that it started.
var exampleWaiter = spawn.Register("ExampleEvent.waiter", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	start, err := event.Open(seg, "start")
	if err != nil {
		return err
	}
	b, err := shm.OpenBytes(seg, "started")
	if err != nil {
		return err
	}
	if err := start.Wait(ctx); err != nil {
		return err
	}
	atomic.AddInt32((*int32)(unsafe.Pointer(&b[0])), 1)
	return nil
})

// Three processes wait for one start signal.
func ExampleEvent() {
	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	start, err := event.New(seg, "start")
	if err != nil {
		log.Fatal(err)
	}
	b, err := shm.NewBytes(seg, "started", 4)
	if err != nil {
		log.Fatal(err)
	}
	var ps []*spawn.Process
	for i := 0; i < 3; i++ {
		p, err := exampleWaiter.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}})
		if err != nil {
			log.Fatal(err)
		}
		ps = append(ps, p)
	}
	fmt.Println("before Set:", atomic.LoadInt32((*int32)(unsafe.Pointer(&b[0]))))
	start.Set()
	for _, p := range ps {
		if err := p.Wait(); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("after Set:", atomic.LoadInt32((*int32)(unsafe.Pointer(&b[0]))))
	// Output:
	// before Set: 0
	// after Set: 3
}

// exampleParty makes three rounds at the barrier, recording its arrival
// index in each.
var exampleParty = spawn.Register("ExampleBarrier.party", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	b, err := event.OpenBarrier(seg, "step")
	if err != nil {
		return err
	}
	mem, err := shm.OpenBytes(seg, "indices")
	if err != nil {
		return err
	}
	for round := 0; round < 3; round++ {
		i, err := b.Wait(ctx)
		if err != nil {
			return err
		}
		mem[round*3+i] = byte('0' + i)
	}
	return nil
})

// Three processes meet at a barrier after each of three steps; each gets a
// distinct arrival index in every round.
func ExampleBarrier() {
	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	if _, err := event.NewBarrier(seg, "step", 3); err != nil {
		log.Fatal(err)
	}
	mem, err := shm.NewBytes(seg, "indices", 9)
	if err != nil {
		log.Fatal(err)
	}
	var ps []*spawn.Process
	for i := 0; i < 3; i++ {
		p, err := exampleParty.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}})
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
	for round := 0; round < 3; round++ {
		got := []byte(string(mem[round*3 : round*3+3]))
		sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
		fmt.Printf("round %d: indices %s\n", round, got)
	}
	// Output:
	// round 0: indices 012
	// round 1: indices 012
	// round 2: indices 012
}

//go:build linux

package value_test

import (
	"context"
	"fmt"
	"log"

	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
	"github.com/shmkit/shmkit/value"
)

var exampleWorker = spawn.Register("ExampleNew", func(ctx context.Context, c *spawn.Child) error {
	counter, err := value.Open[int64](c.Segments()[0], "counter")
	if err != nil {
		return err
	}
	for range 1000 {
		counter.Update(func(n *int64) { *n++ }) // atomic: no increment is lost
	}
	return nil
})

// The shared counter, Python's Value('i', 0) with "with v.get_lock(): v.value += 1":
// four processes add 1000 each.
func ExampleNew() {
	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	counter, err := value.New[int64](seg, "counter")
	if err != nil {
		log.Fatal(err)
	}
	var ps []*spawn.Process
	for range 4 {
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
	fmt.Println(counter.Load())
	// Output: 4000
}

// Settings is a struct shared between processes: fixed-size fields only.
type Settings struct {
	Rate    float64
	Workers int32
	Verbose bool
}

var exampleReader = spawn.Register("ExampleValue_Load", func(ctx context.Context, c *spawn.Child) error {
	s, err := value.Open[Settings](c.Segments()[0], "settings")
	if err != nil {
		return err
	}
	cur := s.Load() // never half of one Store and half of another
	s.Store(Settings{Rate: cur.Rate * 2, Workers: cur.Workers + 1, Verbose: true})
	return nil
})

// A struct read and written whole by several processes.
func ExampleValue_Load() {
	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	s, err := value.New[Settings](seg, "settings")
	if err != nil {
		log.Fatal(err)
	}
	s.Store(Settings{Rate: 1.5, Workers: 4})
	p, err := exampleReader.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}})
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", s.Load())

	// Types holding pointers are refused, naming the field.
	type bad struct {
		ID   int
		Tags []string
	}
	_, err = value.New[bad](seg, "bad")
	fmt.Println(err)
	// Output:
	// {Rate:3 Workers:5 Verbose:true}
	// value: type value_test.bad: field Tags is a []string: only fixed-size types without pointers can live in shared memory
}

var exampleAdder = spawn.Register("ExampleNewInt64", func(ctx context.Context, c *spawn.Child) error {
	hits, err := value.OpenInt64(c.Segments()[0], "hits")
	if err != nil {
		return err
	}
	for range 500 {
		hits.Add(1) // one atomic instruction, no lock
	}
	return nil
})

// A lock-free counter, as sync/atomic's Int64 between processes.
func ExampleNewInt64() {
	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	hits, err := value.NewInt64(seg, "hits")
	if err != nil {
		log.Fatal(err)
	}
	var ps []*spawn.Process
	for range 2 {
		p, err := exampleAdder.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}})
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
	fmt.Println(hits.Load())
	fmt.Println(hits.CompareAndSwap(1000, 0), hits.Load())
	// Output:
	// 1000
	// true 0
}

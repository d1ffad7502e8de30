//go:build linux

package array_test

import (
	"context"
	"fmt"
	"log"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

var exampleSquares = spawn.Register("ExampleNew", func(ctx context.Context, c *spawn.Child) error {
	a, err := array.Open[float64](c.Segments()[0], "data")
	if err != nil {
		return err
	}
	s := a.Slice() // the shared elements themselves, no copy
	for i := range s {
		s[i] = float64(i * i)
	}
	return nil
})

// Python's Array('d', 10): a child fills it, the parent reads it.
func ExampleNew() {
	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	a, err := array.New[float64](seg, "data", 10)
	if err != nil {
		log.Fatal(err)
	}
	p, err := exampleSquares.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}})
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Wait(); err != nil { // the child's writes happen before Wait returns
		log.Fatal(err)
	}
	fmt.Println(a.Slice())
	fmt.Println(a.At(9))
	// Output:
	// [0 1 4 9 16 25 36 49 64 81]
	// 81
}

var exampleHistogram = spawn.Register("ExampleArray_Update", func(ctx context.Context, c *spawn.Child) error {
	h, err := array.Open[int64](c.Segments()[0], "histogram")
	if err != nil {
		return err
	}
	for i := range 100 {
		h.Update(func(bins []int64) { bins[i%4]++ })
	}
	return nil
})

// Several processes update one array under its lock.
func ExampleArray_Update() {
	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	h, err := array.New[int64](seg, "histogram", 4)
	if err != nil {
		log.Fatal(err)
	}
	var ps []*spawn.Process
	for range 3 {
		p, err := exampleHistogram.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}})
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
	fmt.Println(h.Slice())
	// Output: [75 75 75 75]
}

// Sharedmem shares a number and an array with a child process: Python's
//
//	num = Value('d', 0.0)
//	arr = Array('i', range(10))
//	p = Process(target=f, args=(num, arr)); p.start(); p.join()
//	print(num.value); print(arr[:])
//
// where the child sets num.value = 3.1415927 and negates every element.
//
//	go run ./docs/examples/sharedmem
//
// Output:
//
//	3.1415927
//	[0 -1 -2 -3 -4 -5 -6 -7 -8 -9]
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
	"github.com/shmkit/shmkit/value"
)

var f = spawn.Register("f", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	num, err := value.Open[float64](seg, "num")
	if err != nil {
		return err
	}
	arr, err := array.Open[int32](seg, "arr")
	if err != nil {
		return err
	}
	num.Store(3.1415927)
	arr.Update(func(xs []int32) { // under the array's lock
		for i := range xs {
			xs[i] = -xs[i]
		}
	})
	return nil
})

func main() {
	spawn.Main()

	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	num, err := value.New[float64](seg, "num")
	if err != nil {
		log.Fatal(err)
	}
	arr, err := array.New[int32](seg, "arr", 10)
	if err != nil {
		log.Fatal(err)
	}
	for i := range arr.Slice() { // a []int32 over the shared memory itself
		arr.Set(i, int32(i))
	}

	p, err := f.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}})
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(num.Load())
	fmt.Println(arr.Slice())
}

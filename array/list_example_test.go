//go:build linux

package array_test

import (
	"context"
	"fmt"
	"log"
	"slices"
	"strconv"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

// result is what a worker appends: fixed-size fields only.
type result struct {
	Worker int32
	Square int64
}

var exampleAppender = spawn.Register("ExampleList", func(ctx context.Context, c *spawn.Child) error {
	results, err := array.OpenList[result](c.Segments()[0], "results")
	if err != nil {
		return err
	}
	w, _ := strconv.Atoi(c.Args()[0])
	for i := range 2 {
		n := int64(w*2 + i)
		if _, err := results.Append(result{int32(w), n * n}); err != nil {
			return err
		}
	}
	return nil
})

// Python's Manager().list() that workers append their results to: three
// processes append two results each, at indices they are given.
func ExampleList() {
	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	results, err := array.NewList[result](seg, "results", 100)
	if err != nil {
		log.Fatal(err)
	}
	var ps []*spawn.Process
	for w := range 3 {
		p, err := exampleAppender.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}, Args: []string{strconv.Itoa(w)}})
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
	// The order of appends between processes is theirs; sort to print.
	s := slices.Clone(results.Slice())
	slices.SortFunc(s, func(a, b result) int { return int(a.Square - b.Square) })
	fmt.Println(results.Len(), s)
	// Output: 6 [{0 0} {0 1} {1 4} {1 9} {2 16} {2 25}]
}

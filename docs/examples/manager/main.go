// Manager shows the shared dict and list that Python programs get from
// multiprocessing.Manager, without a server process: four processes count
// the words of their share of a text into one value.Map (string keys,
// int64 counts) and append their numbers to an array.List as they finish.
// Every access goes straight to shared memory; nothing is pickled or sent
// over a socket.
//
//	go run ./docs/examples/manager
//
// Output:
//
//	finished: 4 workers
//	a 4
//	dict 7
//	list 3
//	manager 4
//	shared 6
//	the 4
package main

import (
	"context"
	"fmt"
	"log"
	"slices"
	"strings"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
	"github.com/shmkit/shmkit/value"
)

const workers = 4

// lines is the text; worker i counts the words of lines i, i+4, i+8...
var lines = []string{
	"the manager dict", "a shared dict", "the manager list", "a shared list",
	"shared dict", "shared list", "dict", "dict",
	"the manager", "a manager", "the shared dict", "a shared dict",
}

// count adds the words of its lines to the shared counts.
var count = spawn.Register("count", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	counts, err := value.OpenMapWith(seg, "counts", value.StringCodec{}, value.FixedCodec[int64]{})
	if err != nil {
		return err
	}
	done, err := array.OpenList[int32](seg, "done")
	if err != nil {
		return err
	}
	var me int32
	if _, err := fmt.Sscan(c.Args()[0], &me); err != nil {
		return err
	}
	for i := int(me); i < len(lines); i += workers {
		for _, w := range strings.Fields(lines[i]) {
			// Python: d[w] = d.get(w, 0) + 1, but atomic: Update holds
			// the map's write lock around the read and the write.
			err := counts.Update(w, func(n int64, _ bool) (int64, bool) { return n + 1, true })
			if err != nil {
				return err
			}
		}
	}
	_, err = done.Append(me)
	return err
})

func main() {
	spawn.Main()

	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	counts, err := value.NewMapWith(seg, "counts", value.MapOptions{Entries: 64},
		value.StringCodec{}, value.FixedCodec[int64]{})
	if err != nil {
		log.Fatal(err)
	}
	done, err := array.NewList[int32](seg, "done", workers)
	if err != nil {
		log.Fatal(err)
	}

	var procs []*spawn.Process
	for i := 0; i < workers; i++ {
		p, err := count.Start(context.Background(), spawn.Options{
			Segments: []*shm.Segment{seg},
			Args:     []string{fmt.Sprint(i)},
		})
		if err != nil {
			log.Fatal(err)
		}
		procs = append(procs, p)
	}
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			log.Fatal(err)
		}
	}

	fmt.Printf("finished: %d workers\n", done.Len())
	snap, err := counts.Snapshot() // a plain Go map, copied under the read lock
	if err != nil {
		log.Fatal(err)
	}
	words := make([]string, 0, len(snap))
	for w := range snap {
		words = append(words, w)
	}
	slices.Sort(words)
	for _, w := range words {
		fmt.Println(w, snap[w])
	}
}

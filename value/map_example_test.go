//go:build linux

package value_test

import (
	"context"
	"fmt"
	"log"
	"slices"
	"strings"

	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
	"github.com/shmkit/shmkit/value"
)

var exampleWordCounter = spawn.Register("ExampleMap", func(ctx context.Context, c *spawn.Child) error {
	counts, err := value.OpenMapWith(c.Segments()[0], "counts", value.StringCodec{}, value.FixedCodec[int64]{})
	if err != nil {
		return err
	}
	for _, w := range strings.Fields(c.Args()[0]) {
		// An atomic read-modify-write: no count is lost.
		if err := counts.Update(w, func(n int64, _ bool) (int64, bool) { return n + 1, true }); err != nil {
			return err
		}
	}
	return nil
})

// Python's Manager().dict() shared by worker processes: each counts the
// words of one text into the same map.
func ExampleMap() {
	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	counts, err := value.NewMapWith(seg, "counts", value.MapOptions{Entries: 100}, value.StringCodec{}, value.FixedCodec[int64]{})
	if err != nil {
		log.Fatal(err)
	}
	var ps []*spawn.Process
	for _, text := range []string{"the cat sat", "the dog sat", "a cat ran", "the end"} {
		p, err := exampleWordCounter.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}, Args: []string{text}})
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
	snap, err := counts.Snapshot()
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
	// Output:
	// a 1
	// cat 2
	// dog 1
	// end 1
	// ran 1
	// sat 2
	// the 3
}

// A map of fixed-size keys and values: Get and Put copy their bytes, with
// no codec and no allocation.
func ExampleNewMap() {
	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	type position struct{ X, Y float64 }
	m, err := value.NewMap[uint32, position](seg, "positions", 1000)
	if err != nil {
		log.Fatal(err)
	}
	m.Put(7, position{1.5, -2})
	m.Update(7, func(p position, ok bool) (position, bool) { p.X += 1; return p, ok })
	p, ok, err := m.Get(7)
	fmt.Println(p, ok, err)
	_, ok, _ = m.Get(8)
	fmt.Println(ok, m.Len(), m.Cap())
	// Output:
	// {2.5 -2} true <nil>
	// false 1 1000
}

// Byte strings, read into a buffer the caller keeps: no allocation per Get.
func ExampleBytesMap() {
	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	m, err := value.NewBytesMap(seg, "sessions", value.MapOptions{Entries: 1000, Bytes: 64 << 10})
	if err != nil {
		log.Fatal(err)
	}
	m.Put([]byte("alice"), []byte("token-1"))
	m.Put([]byte("bob"), []byte("token-2"))
	buf := make([]byte, 0, 64)
	for _, user := range []string{"alice", "bob", "carol"} {
		var ok bool
		buf, ok, err = m.Get([]byte(user), buf)
		fmt.Printf("%s %q %v %v\n", user, buf, ok, err)
	}
	m.Delete([]byte("alice"))
	fmt.Println(m.Len())
	// Output:
	// alice "token-1" true <nil>
	// bob "token-2" true <nil>
	// carol "" false <nil>
	// 1
}

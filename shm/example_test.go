//go:build linux

package shm_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log"

	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

// A raw region in an anonymous segment, found again by name.
func ExampleNewBytes() {
	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()

	buf, err := shm.NewBytes(seg, "greeting", 64)
	if err != nil {
		log.Fatal(err)
	}
	copy(buf, "hello")

	again, err := shm.OpenBytes(seg, "greeting") // in this or any process that maps seg
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", bytes.TrimRight(again, "\x00"))
	// Output: hello
}

// Alloc builds an object of a program-defined kind: init runs before any
// other process can see the object.
func ExampleSegment_Alloc() {
	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()

	const kindConfig = shm.KindUser + 1
	_, err = seg.Alloc("config", kindConfig, 16, 0, func(mem []byte) error {
		binary.NativeEndian.PutUint64(mem, 42) // fully initialised before it is visible
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	mem, err := seg.Lookup("config", kindConfig)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(binary.NativeEndian.Uint64(mem))
	for _, o := range seg.Objects() {
		fmt.Println(o.Name, o.Kind, o.Size)
	}
	// Output:
	// 42
	// config user+1 16
}

var exampleChild = spawn.Register("ExampleCreateAnon", func(ctx context.Context, c *spawn.Child) error {
	buf, err := shm.OpenBytes(c.Segments()[0], "message")
	if err != nil {
		return err
	}
	copy(buf, "written by the child")
	return nil
})

// An anonymous segment handed to a child process.
func ExampleCreateAnon() {
	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	buf, err := shm.NewBytes(seg, "message", 64)
	if err != nil {
		log.Fatal(err)
	}
	p, err := exampleChild.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}})
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", bytes.TrimRight(buf, "\x00"))
	// Output: written by the child
}

// Hello is the README's example: a parent makes an anonymous shared memory
// segment, a child process writes a message into it, and the parent prints
// the message after the child has exited.
//
//	go run ./docs/examples/hello
//
// Output:
//
//	child <pid> wrote: hello from the child
package main

import (
	"bytes"
	"context"
	"fmt"
	"log"

	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

// greeter runs in the child process.
var greeter = spawn.Register("greeter", func(ctx context.Context, c *spawn.Child) error {
	buf, err := shm.OpenBytes(c.Segments()[0], "message")
	if err != nil {
		return err
	}
	copy(buf, "hello from the child")
	return nil
})

func main() {
	spawn.Main() // in the child: runs greeter, then exits

	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	buf, err := shm.NewBytes(seg, "message", 64)
	if err != nil {
		log.Fatal(err)
	}

	p, err := greeter.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}})
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("child %d wrote: %s\n", p.Pid(), bytes.TrimRight(buf, "\x00"))
}

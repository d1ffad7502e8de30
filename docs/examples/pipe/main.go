// Pipe sends messages between a parent and a child over a duplex pipe:
// Python's
//
//	parent_conn, child_conn = multiprocessing.Pipe()
//	parent_conn.send(...); parent_conn.recv()
//
// The child answers each message until the parent closes its end, which
// the child sees as io.EOF (Python's EOFError).
//
//	go run ./docs/examples/pipe
//
// Output:
//
//	sent "hello", got "HELLO"
//	sent "how are you?", got "HOW ARE YOU?"
//	sent "goodbye", got "GOODBYE"
//	child exited cleanly
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"

	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

// shout answers every message with its upper-case form, until EOF.
var shout = spawn.Register("shout", func(ctx context.Context, c *spawn.Child) error {
	conn, err := ring.OpenPipe(c.Segments()[0], "pipe") // the child's end
	if err != nil {
		return err
	}
	var msg []byte
	for {
		msg, err = conn.Recv(ctx, msg)
		if err == io.EOF {
			return nil // the parent closed its end
		}
		if err != nil {
			return err
		}
		if err := conn.Send(ctx, bytes.ToUpper(msg)); err != nil {
			return err
		}
	}
})

func main() {
	spawn.Main()

	ctx := context.Background()
	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	conn, err := ring.NewPipe(seg, "pipe", 4096) // the parent's end
	if err != nil {
		log.Fatal(err)
	}
	child, err := shout.Start(ctx, spawn.Options{Segments: []*shm.Segment{seg}})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range []string{"hello", "how are you?", "goodbye"} {
		if err := conn.Send(ctx, []byte(m)); err != nil {
			log.Fatal(err)
		}
		reply, err := conn.Recv(ctx, nil)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("sent %q, got %q\n", m, reply)
	}
	conn.Close()
	if err := child.Wait(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("child exited cleanly")
}

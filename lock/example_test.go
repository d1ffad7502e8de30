//go:build linux

package lock_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"unsafe"

	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

// exampleCounter adds 1000 to the shared counter, under the Mutex.
var exampleCounter = spawn.Register("ExampleMutex.worker", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	m, err := lock.OpenMutex(seg, "m")
	if err != nil {
		return err
	}
	b, err := shm.OpenBytes(seg, "counter")
	if err != nil {
		return err
	}
	counter := (*int64)(unsafe.Pointer(&b[0]))
	for i := 0; i < 1000; i++ {
		if err := m.LockContext(ctx); err != nil && !errors.Is(err, lock.ErrOwnerDead) {
			return err
		}
		*counter++ // a plain increment: the Mutex makes it safe
		m.Unlock()
	}
	return nil
})

// Two processes increment one counter in shared memory under a Mutex.
func ExampleMutex() {
	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	if _, err := lock.NewMutex(seg, "m"); err != nil {
		log.Fatal(err)
	}
	b, err := shm.NewBytes(seg, "counter", 8)
	if err != nil {
		log.Fatal(err)
	}
	var ps []*spawn.Process
	for i := 0; i < 2; i++ {
		p, err := exampleCounter.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}})
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
	fmt.Println(*(*int64)(unsafe.Pointer(&b[0])))
	// Output: 2000
}

// config is data an RWMutex protects.
type config struct {
	version, port int64
}

var exampleWriter = spawn.Register("ExampleRWMutex.writer", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	rw, err := lock.OpenRWMutex(seg, "config.lock")
	if err != nil {
		return err
	}
	b, err := shm.OpenBytes(seg, "config")
	if err != nil {
		return err
	}
	cfg := (*config)(unsafe.Pointer(&b[0]))
	rw.Lock()
	cfg.version++
	cfg.port = 8080
	rw.Unlock()
	return nil
})

// A writer process updates a configuration that readers read under the
// read lock.
func ExampleRWMutex() {
	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	rw, err := lock.NewRWMutex(seg, "config.lock")
	if err != nil {
		log.Fatal(err)
	}
	b, err := shm.NewBytes(seg, "config", int(unsafe.Sizeof(config{})))
	if err != nil {
		log.Fatal(err)
	}
	cfg := (*config)(unsafe.Pointer(&b[0]))
	p, err := exampleWriter.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}})
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		log.Fatal(err)
	}
	if err := rw.RLockContext(context.Background()); err != nil {
		log.Fatal(err) // ErrOwnerDead: the writer died mid-update
	}
	fmt.Printf("version %d, port %d\n", cfg.version, cfg.port)
	rw.RUnlock()
	// Output: version 1, port 8080
}

// mailbox is a one-item queue protected by a Mutex.
type mailbox struct {
	full, item, sum, done int64
}

var exampleConsumer = spawn.Register("ExampleCond.consumer", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	m, err := lock.OpenMutex(seg, "m")
	if err != nil {
		return err
	}
	changed, err := lock.OpenCond(seg, "changed", m)
	if err != nil {
		return err
	}
	b, err := shm.OpenBytes(seg, "mailbox")
	if err != nil {
		return err
	}
	box := (*mailbox)(unsafe.Pointer(&b[0]))
	m.Lock()
	defer m.Unlock()
	for {
		for box.full == 0 && box.done == 0 {
			if err := changed.Wait(ctx); err != nil {
				return err
			}
		}
		if box.full == 0 {
			return nil // done, and nothing left
		}
		box.sum += box.item
		box.full = 0
		changed.Broadcast()
	}
})

// A producer hands items to a consumer process one at a time, each side
// waiting on a Cond for the other.
func ExampleCond() {
	seg, err := shm.CreateAnon(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	m, err := lock.NewMutex(seg, "m")
	if err != nil {
		log.Fatal(err)
	}
	changed, err := lock.NewCond(seg, "changed", m)
	if err != nil {
		log.Fatal(err)
	}
	b, err := shm.NewBytes(seg, "mailbox", int(unsafe.Sizeof(mailbox{})))
	if err != nil {
		log.Fatal(err)
	}
	box := (*mailbox)(unsafe.Pointer(&b[0]))
	p, err := exampleConsumer.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	m.Lock()
	for i := int64(1); i <= 10; i++ {
		for box.full == 1 {
			if err := changed.Wait(ctx); err != nil {
				log.Fatal(err)
			}
		}
		box.item, box.full = i, 1
		changed.Broadcast()
	}
	box.done = 1
	changed.Broadcast()
	m.Unlock()
	if err := p.Wait(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("sum", box.sum)
	// Output: sum 55
}

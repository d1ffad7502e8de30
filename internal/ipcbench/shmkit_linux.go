package ipcbench

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/event"
	"github.com/shmkit/shmkit/internal/futex"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

// The shmkit mechanisms. Every one but the mutex (three, see mutexEnd) uses
// two objects, "ab" carrying side A's messages to side B and "ba" the other
// way (a stream uses "ba" only), and the default waiting of shmkit: spin
// briefly, then sleep.

var bg = context.Background()

var impls = map[string]*impl{
	SPSC:       {shm: spscBytes, setup: setupSPSC, open: openSPSC},
	SPSCZC:     {shm: spscBytes, setup: setupSPSC, open: openSPSC},
	SPSCBatch:  {shm: spscBytes, setup: setupSPSC, open: openSPSC},
	Queue:      {shm: queueBytes, setup: setupQueue, open: openQueue},
	Pipe:       {shm: spscBytes, setup: setupPipe, open: openPipe},
	Mutex:      {shm: small, setup: setupMutex, open: openMutex},
	Semaphore:  {shm: small, setup: setupSemaphore, open: openSemaphore},
	Event:      {shm: small, setup: setupEvent, open: openEvent},
	Atomic:     {shm: wordBytes, setup: setupWord, open: openWord},
	Futex:      {shm: wordBytes, setup: setupWord, open: openWord},
	EventFD:    {shm: small, setup: setupEventFD, open: openFD},
	OSPipe:     {shm: small, setup: setupOSPipe, open: openFD},
	Unix:       {shm: small, setup: setupSocketPair, open: openFD},
	UnixPacket: {shm: small, setup: setupSocketPair, open: openFD},
	TCP:        {shm: small, setup: setupTCP, open: openFD},
	Chan:       {shm: small, setup: setupChan, open: openChan},
}

func small(int) int { return 1 << 16 }

// ---- SPSC ----

func spscBytes(size int) int { return 2 * (ringBytes(size) + 4096) }

func setupSPSC(e *env) error {
	for _, name := range []string{"ab", "ba"} {
		if _, err := ring.NewSPSC(e.seg, name, ringBytes(e.size)); err != nil {
			return err
		}
	}
	return nil
}

func openSPSC(e *env, side int) (end, error) {
	ab, err := ring.OpenSPSC(e.seg, "ab")
	if err != nil {
		return nil, err
	}
	ba, err := ring.OpenSPSC(e.seg, "ba")
	if err != nil {
		return nil, err
	}
	out, in := ab, ba
	if side == sideB {
		out, in = ba, ab
	}
	switch e.m.Name {
	case SPSCZC:
		return spscZC{out, in}, nil
	case SPSCBatch:
		return &spscBatch{spscCopy: spscCopy{out, in}}, nil
	}
	return spscCopy{out, in}, nil
}

type spscCopy struct{ out, in *ring.SPSC }

func (s spscCopy) send(msg []byte) error { return s.out.Send(bg, msg) }
func (s spscCopy) recv(buf []byte) ([]byte, error) {
	return s.in.Recv(bg, buf)
}
func (s spscCopy) done() {}
func (s spscCopy) close() error {
	s.out.Close()
	return s.in.Close()
}

// spscZC writes each message in place (the one copy: producing it) and
// reads it in place.
type spscZC struct{ out, in *ring.SPSC }

func (s spscZC) send(msg []byte) error {
	b, err := s.out.Reserve(bg, len(msg))
	if err != nil {
		return err
	}
	copy(b, msg)
	return s.out.Commit(len(msg))
}
func (s spscZC) recv([]byte) ([]byte, error) {
	m, err := s.in.Peek(bg)
	Use(m)
	return m, err
}
func (s spscZC) done() { s.in.Release() }
func (s spscZC) close() error {
	s.out.Close()
	return s.in.Close()
}

// spscBatch sends batches of 32 with SendBatch and receives with
// RecvBatch, reading each message in place.
type spscBatch struct {
	spscCopy
	batch [][]byte
}

func (s *spscBatch) sendN(msg []byte, n int) error {
	if s.batch == nil {
		s.batch = make([][]byte, 32)
	}
	for i := range s.batch {
		s.batch[i] = msg
	}
	for n > 0 {
		k := min(n, len(s.batch))
		if err := s.out.SendBatch(bg, s.batch[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

func (s *spscBatch) recvN(max int) (int, error) {
	return s.in.RecvBatch(bg, max, Use)
}

// ---- Queue ----

// queueSlots is a Queue's slot count for size-byte messages: the same
// buffer as the rings get, 4 to 1024 slots, a power of two.
func queueSlots(size int) int {
	n := 4
	for n < 1024 && n*max(size, 1) < ringBytes(size) {
		n *= 2
	}
	return n
}

// queueBytes bounds the bytes of the two queues: a slot's stride is at most
// ceil64(64 + size) (the message follows a 24-byte slot header, or starts
// at byte 64 in slots of ring.AlignFrom bytes or more).
func queueBytes(size int) int {
	return 2 * (queueSlots(size)*((size+64+63)/64*64) + 4096)
}

func setupQueue(e *env) error {
	for _, name := range []string{"ab", "ba"} {
		if _, err := ring.NewQueue(e.seg, name, ring.QueueOptions{Slots: queueSlots(e.size), SlotSize: e.size}); err != nil {
			return err
		}
	}
	return nil
}

func openQueue(e *env, side int) (end, error) {
	ab, err := ring.OpenQueue(e.seg, "ab")
	if err != nil {
		return nil, err
	}
	ba, err := ring.OpenQueue(e.seg, "ba")
	if err != nil {
		return nil, err
	}
	if side == sideB {
		return queueEnd{ba, ab}, nil
	}
	return queueEnd{ab, ba}, nil
}

type queueEnd struct{ out, in *ring.Queue }

func (q queueEnd) send(msg []byte) error           { return q.out.Send(bg, msg) }
func (q queueEnd) recv(buf []byte) ([]byte, error) { return q.in.Recv(bg, buf) }
func (q queueEnd) done()                           {}
func (q queueEnd) close() error {
	q.out.Close()
	return q.in.Close()
}

// ---- Pipe ----

func setupPipe(e *env) error {
	c, err := ring.NewPipe(e.seg, "p", ringBytes(e.size))
	e.local = c
	return err
}

func openPipe(e *env, side int) (end, error) {
	if side == sideA {
		// NewPipe's end 0 is a handle of this process; a second handle
		// on it comes from NewPipe only, so setup keeps it.
		return pipeEnd{e.local.(*ring.Conn)}, nil
	}
	c, err := ring.OpenPipe(e.seg, "p")
	if err != nil {
		return nil, err
	}
	return pipeEnd{c}, nil
}

type pipeEnd struct{ c *ring.Conn }

func (p pipeEnd) send(msg []byte) error           { return p.c.Send(bg, msg) }
func (p pipeEnd) recv(buf []byte) ([]byte, error) { return p.c.Recv(bg, buf) }
func (p pipeEnd) done()                           {}
func (p pipeEnd) close() error                    { return p.c.Close() }

// ---- signals: Mutex, Semaphore, Event ----

// stopCheck turns a signal received after side A's close into io.EOF.
func stopCheck(c *control) error {
	if atomic.LoadUint32(&c.stop) == 1 {
		return errStopped
	}
	return nil
}

var mutexNames = [3]string{"l0", "l1", "l2"}

func setupMutex(e *env) error {
	var ls [3]*lock.Mutex
	for i, name := range mutexNames {
		m, err := lock.NewMutex(e.seg, name)
		if err != nil {
			return err
		}
		ls[i] = m
	}
	ls[0].Lock() // side A starts holding l0 and l1, side B l2
	ls[1].Lock()
	e.local = ls
	return nil
}

// mutexEnd hands three mutexes round between the two sides in strict
// alternation. Two would not do: a side that unlocks one and then locks it
// again may take it back before the waiting side wakes (a Mutex lets a
// running locker overtake a sleeping one), and the round trip would time
// a race, not a hand-off. In round r side A sends by unlocking l[r%3] and
// receives by locking l[(r+2)%3]; side B receives by locking l[r%3] and
// sends by unlocking l[(r+2)%3]. Each side locks next a mutex the other
// releases only after taking the one just handed over.
type mutexEnd struct {
	ls   [3]*lock.Mutex
	r    int
	side int
	c    *control
}

func openMutex(e *env, side int) (end, error) {
	if side == sideB {
		var ls [3]*lock.Mutex
		for i, name := range mutexNames {
			m, err := lock.OpenMutex(e.seg, name)
			if err != nil {
				return nil, err
			}
			ls[i] = m
		}
		ls[2].Lock()
		atomic.StoreUint32(&e.ctl.ready, 1)
		futex.WakeAll(&e.ctl.ready)
		return &mutexEnd{ls: ls, side: side, c: e.ctl}, nil
	}
	for atomic.LoadUint32(&e.ctl.ready) == 0 {
		futex.Wait(&e.ctl.ready, 0, time.Now().Add(10*time.Millisecond))
	}
	return &mutexEnd{ls: e.local.([3]*lock.Mutex), side: side, c: e.ctl}, nil
}

func (m *mutexEnd) send([]byte) error {
	if m.side == sideA {
		m.ls[m.r%3].Unlock()
		return nil
	}
	m.ls[(m.r+2)%3].Unlock()
	m.r++
	return nil
}

func (m *mutexEnd) recv([]byte) ([]byte, error) {
	if m.side == sideA {
		m.ls[(m.r+2)%3].Lock()
		m.r++
	} else {
		m.ls[m.r%3].Lock()
	}
	return nil, stopCheck(m.c)
}

func (m *mutexEnd) done() {}

// close is side A's, between rounds: it holds l[r%3] and l[(r+1)%3], and
// side B waits for l[r%3].
func (m *mutexEnd) close() error {
	atomic.StoreUint32(&m.c.stop, 1)
	m.ls[m.r%3].Unlock()
	return nil
}

func setupSemaphore(e *env) error {
	for _, name := range []string{"ab", "ba"} {
		if _, err := semaphore.New(e.seg, name, 0); err != nil {
			return err
		}
	}
	return nil
}

// semEnd releases the semaphore its peer acquires, and acquires the other.
type semEnd struct {
	out, in *semaphore.Semaphore
	c       *control
}

func openSemaphore(e *env, side int) (end, error) {
	ab, err := semaphore.Open(e.seg, "ab")
	if err != nil {
		return nil, err
	}
	ba, err := semaphore.Open(e.seg, "ba")
	if err != nil {
		return nil, err
	}
	if side == sideB {
		return semEnd{ba, ab, e.ctl}, nil
	}
	return semEnd{ab, ba, e.ctl}, nil
}

func (s semEnd) send([]byte) error { return s.out.Release() }
func (s semEnd) recv([]byte) ([]byte, error) {
	if err := s.in.Acquire(bg); err != nil {
		return nil, err
	}
	return nil, stopCheck(s.c)
}
func (s semEnd) done() {}
func (s semEnd) close() error {
	atomic.StoreUint32(&s.c.stop, 1)
	return s.out.Release()
}

func setupEvent(e *env) error {
	for _, name := range []string{"ab", "ba"} {
		if _, err := event.New(e.seg, name); err != nil {
			return err
		}
	}
	return nil
}

// eventEnd sets the event its peer waits for, and waits for and clears the
// other.
type eventEnd struct {
	out, in *event.Event
	c       *control
}

func openEvent(e *env, side int) (end, error) {
	ab, err := event.Open(e.seg, "ab")
	if err != nil {
		return nil, err
	}
	ba, err := event.Open(e.seg, "ba")
	if err != nil {
		return nil, err
	}
	if side == sideB {
		return eventEnd{ba, ab, e.ctl}, nil
	}
	return eventEnd{ab, ba, e.ctl}, nil
}

func (v eventEnd) send([]byte) error { v.out.Set(); return nil }
func (v eventEnd) recv([]byte) ([]byte, error) {
	if err := v.in.Wait(bg); err != nil {
		return nil, err
	}
	v.in.Clear()
	return nil, stopCheck(v.c)
}
func (v eventEnd) done() {}
func (v eventEnd) close() error {
	atomic.StoreUint32(&v.c.stop, 1)
	v.out.Set()
	return nil
}

// segment of an env, for the baselines that keep their buffers there.
func bytesOf(seg *shm.Segment, name string, n int, create bool) ([]byte, error) {
	if create {
		return shm.NewBytes(seg, name, n)
	}
	return shm.OpenBytes(seg, name)
}

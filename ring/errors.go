package ring

import (
	"errors"
	"fmt"
	"io"

	"github.com/shmkit/shmkit/shm"
)

// Errors of sending and receiving.
var (
	// ErrClosed reports a send on a closed ring or queue, or a receive from
	// one that is closed and drained.
	ErrClosed = errors.New("ring: closed")

	// ErrTooLarge reports a message larger than the ring or queue can ever
	// hold. It is returned at once; nothing waits.
	ErrTooLarge = errors.New("ring: message too large")

	// ErrPeerDied reports that the process at the other end of an SPSC ring
	// or a Pipe died while this side waited for it: the consumer for a
	// waiting producer, the producer for a waiting (and drained) consumer.
	// For a Conn it also matches io.EOF.
	ErrPeerDied = errors.New("ring: peer process died")

	// ErrBusy reports that another live process already holds the role
	// asked for: the producing or consuming end of an SPSC ring, or end 1
	// of a Pipe.
	ErrBusy = errors.New("ring: end in use by another process")
)

// peerDied is the error of a dead peer, naming it.
type peerDied struct {
	pid int
	eof bool // also matches io.EOF (Conn)
}

func (e *peerDied) Error() string {
	return fmt.Sprintf("ring: peer process %d died", e.pid)
}

func (e *peerDied) Is(target error) bool {
	return target == ErrPeerDied || e.eof && target == io.EOF
}

// eofError is what a Conn returns once the other end has closed and every
// message has been received: io.EOF itself, as io.Reader requires.
var eofError = io.EOF

// errFrame reports a message that Compress cannot decode: it was not sent
// through Compress, or its bytes were damaged. It matches shm.ErrCorrupt.
var errFrame = fmt.Errorf("ring: bad compressed frame: %w", shm.ErrCorrupt)

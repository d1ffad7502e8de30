package ipcbench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/shmkit/shmkit/internal/futex"
)

// The baselines written here. They follow the same rules as the shmkit
// mechanisms: the sender copies each message in, a receiver copies it out,
// and every buffer is at least 1 MiB or four messages.

// ---- one shared word: atomic busy-polling and futex ----

// A word baseline keeps a turn counter and one message buffer each way in
// shared memory: side A's turns are odd, side B's even. To send, a side
// copies the message into its buffer and stores the next turn (and, for the
// futex, wakes the other); to receive, it waits for the turn to change and
// copies the other's buffer out.

const stopTurn = ^uint32(0)

var timeZero time.Time // futex waits without a deadline

func wordBytes(size int) int { return 64 + 2*(size+63)/64*64 + 4096 }

func setupWord(e *env) error {
	_, err := bytesOf(e.seg, "w", 64+2*(e.size+63)/64*64, true)
	return err
}

type wordEnd struct {
	turn    *uint32
	out, in []byte
	v       uint32
	sleep   bool
}

func openWord(e *env, side int) (end, error) {
	b, err := bytesOf(e.seg, "w", 0, false)
	if err != nil {
		return nil, err
	}
	stride := (e.size + 63) / 64 * 64
	ab, ba := b[64:64+e.size], b[64+stride:64+stride+e.size]
	w := &wordEnd{turn: (*uint32)(unsafe.Pointer(&b[0])), out: ab, in: ba, sleep: e.m.Name == Futex}
	if side == sideB {
		w.out, w.in = ba, ab
	}
	return w, nil
}

func (w *wordEnd) send(msg []byte) error {
	copy(w.out, msg)
	w.v++
	if w.v == stopTurn { // side A's turn after 2^32-2 of them: wrap past the stop value
		w.v = 1
	}
	atomic.StoreUint32(w.turn, w.v) // publishes the message
	if w.sleep {
		futex.Wake(w.turn, 1)
	}
	return nil
}

func (w *wordEnd) recv(buf []byte) ([]byte, error) {
	cur := atomic.LoadUint32(w.turn) // acquires the message
	for cur == w.v {
		if w.sleep {
			futex.Wait(w.turn, cur, timeZero)
		}
		cur = atomic.LoadUint32(w.turn)
	}
	if cur == stopTurn {
		return nil, errStopped
	}
	w.v = cur
	return buf[:copy(buf, w.in)], nil
}

func (w *wordEnd) done() {}

func (w *wordEnd) close() error {
	atomic.StoreUint32(w.turn, stopTurn)
	futex.Wake(w.turn, 1)
	return nil
}

// ---- file descriptors: eventfd, pipes, sockets ----

// fdEnd sends with write(2) and receives with read(2) on blocking
// descriptors: a thread waiting for a message sleeps in the kernel, with no
// poller between, as a C program would.
type fdEnd struct {
	r, w   int
	wf     *os.File
	packet bool // one read per message (seqpacket)
	efd    *control
	scr    [8]byte
}

// bufferBytes is what the fd baselines ask the kernel for: the 1 MiB the
// shared-memory rings get (more for large messages).
func bufferBytes(size int) int { return ringBytes(size) }

func setupEventFD(e *env) error {
	var fds [2]int // ab, ba
	for i := range fds {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
		if err != nil {
			return os.NewSyscallError("eventfd", err)
		}
		fds[i] = fd
	}
	dup := func(fd int) *os.File {
		d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil
		}
		return os.NewFile(uintptr(d), "eventfd")
	}
	// Files are [read, write]: side A reads ba and writes ab, side B the
	// other way round.
	e.aFiles = []*os.File{os.NewFile(uintptr(fds[1]), "eventfd-ba"), os.NewFile(uintptr(fds[0]), "eventfd-ab")}
	e.bFiles = []*os.File{dup(fds[0]), dup(fds[1])}
	if e.bFiles[0] == nil || e.bFiles[1] == nil {
		return errors.New("ipcbench: cannot duplicate an eventfd")
	}
	return nil
}

func setupOSPipe(e *env) error {
	var ab, ba [2]int
	if err := unix.Pipe2(ab[:], unix.O_CLOEXEC); err != nil {
		return os.NewSyscallError("pipe2", err)
	}
	if err := unix.Pipe2(ba[:], unix.O_CLOEXEC); err != nil {
		unix.Close(ab[0])
		unix.Close(ab[1])
		return os.NewSyscallError("pipe2", err)
	}
	for _, fd := range []int{ab[1], ba[1]} {
		unix.FcntlInt(uintptr(fd), unix.F_SETPIPE_SZ, min(bufferBytes(e.size), 1<<20)) // may be refused: the default stays
	}
	// Files are [read, write].
	e.aFiles = []*os.File{os.NewFile(uintptr(ba[0]), "ba-r"), os.NewFile(uintptr(ab[1]), "ab-w")}
	e.bFiles = []*os.File{os.NewFile(uintptr(ab[0]), "ab-r"), os.NewFile(uintptr(ba[1]), "ba-w")}
	return nil
}

func setBuffers(fd, size int) {
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, bufferBytes(size)) // the kernel may cap these
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, bufferBytes(size))
}

func setupSocketPair(e *env) error {
	typ := unix.SOCK_STREAM
	if e.m.Name == UnixPacket {
		typ = unix.SOCK_SEQPACKET
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socketpair", err)
	}
	for _, fd := range fds {
		setBuffers(fd, e.size)
	}
	if typ == unix.SOCK_SEQPACKET {
		// A packet must fit in the sender's buffer, which the kernel caps
		// at twice net.core.wmem_max.
		buf, err := unix.GetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF)
		if err == nil && e.size > buf-32 {
			unix.Close(fds[0])
			unix.Close(fds[1])
			return fmt.Errorf("%w here: a %d-byte seqpacket message exceeds the socket buffer the kernel allows (%d bytes; raise net.core.wmem_max)",
				errors.ErrUnsupported, e.size, buf)
		}
	}
	e.aFiles = []*os.File{os.NewFile(uintptr(fds[0]), "sock")}
	e.bFiles = []*os.File{os.NewFile(uintptr(fds[1]), "sock")}
	return nil
}

func setupTCP(e *env) error {
	l, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(l)
	setBuffers(l, e.size) // accepted sockets inherit them
	if err := unix.Bind(l, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(l, 1); err != nil {
		return os.NewSyscallError("listen", err)
	}
	addr, err := unix.Getsockname(l)
	if err != nil {
		return os.NewSyscallError("getsockname", err)
	}
	c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	setBuffers(c, e.size) // before connect, so the window scales to it
	if err := unix.Connect(c, addr); err != nil {
		unix.Close(c)
		return os.NewSyscallError("connect", err)
	}
	s, _, err := unix.Accept4(l, unix.SOCK_CLOEXEC)
	if err != nil {
		unix.Close(c)
		return os.NewSyscallError("accept", err)
	}
	for _, fd := range []int{c, s} {
		setBuffers(fd, e.size)
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	e.aFiles = []*os.File{os.NewFile(uintptr(c), "tcp")}
	e.bFiles = []*os.File{os.NewFile(uintptr(s), "tcp")}
	return nil
}

// openFD makes an end of the descriptors of side: one file to read and
// write, or [read, write].
func openFD(e *env, side int) (end, error) {
	files := e.aFiles
	if side == sideB {
		files = e.bFiles
	}
	if len(files) == 0 {
		return nil, errors.New("ipcbench: no descriptors")
	}
	// Fd puts a descriptor in blocking mode, which these ends want.
	wf := files[len(files)-1]
	x := &fdEnd{r: int(files[0].Fd()), w: int(wf.Fd()), wf: wf, packet: e.m.Name == UnixPacket}
	if e.m.Name == EventFD {
		x.efd = e.ctl
	}
	return x, nil
}

func (x *fdEnd) send(msg []byte) error {
	if x.efd != nil {
		return x.sendCounter(msg)
	}
	for len(msg) > 0 {
		n, err := unix.Write(x.w, msg)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("write", err)
		}
		msg = msg[n:]
	}
	return nil
}

func (x *fdEnd) recv(buf []byte) ([]byte, error) {
	if x.efd != nil {
		return x.recvCounter(buf)
	}
	if x.packet {
		for {
			n, err := unix.Read(x.r, buf)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return nil, os.NewSyscallError("read", err)
			}
			if n == 0 {
				return nil, io.EOF
			}
			if n != len(buf) {
				return nil, fmt.Errorf("ipcbench: %d-byte packet, want %d", n, len(buf))
			}
			return buf, nil
		}
	}
	for got := 0; got < len(buf); {
		n, err := unix.Read(x.r, buf[got:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, os.NewSyscallError("read", err)
		}
		if n == 0 {
			return nil, io.EOF
		}
		got += n
	}
	return buf, nil
}

// sendCounter writes the 8-byte message as the eventfd's counter (a signal
// writes 1; the counter can hold neither 0 nor 2^64-1).
func (x *fdEnd) sendCounter(msg []byte) error {
	v := uint64(1)
	if len(msg) == 8 {
		v = binary.LittleEndian.Uint64(msg)
	}
	if v == 0 || v == ^uint64(0) {
		v = 1
	}
	binary.LittleEndian.PutUint64(x.scr[:], v)
	for {
		_, err := unix.Write(x.w, x.scr[:])
		if err == unix.EINTR {
			continue
		}
		return os.NewSyscallError("write", err)
	}
}

func (x *fdEnd) recvCounter(buf []byte) ([]byte, error) {
	for {
		_, err := unix.Read(x.r, x.scr[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, os.NewSyscallError("read", err)
		}
		break
	}
	if err := stopCheck(x.efd); err != nil {
		return nil, err
	}
	return buf[:copy(buf, x.scr[:])], nil
}

func (x *fdEnd) done() {}

func (x *fdEnd) close() error {
	if x.efd != nil {
		atomic.StoreUint32(&x.efd.stop, 1)
		return x.sendCounter(nil)
	}
	// The peer's read returns 0: end of file.
	if x.r == x.w {
		return unix.Shutdown(x.w, unix.SHUT_WR)
	}
	return x.wf.Close()
}

// ---- Go channels, one process ----

// chanEnd sends each message as a slice of one of the sender's buffers,
// after copying the message into it, and the receiver copies it out: the
// same two copies a copying transport makes. A channel holds as many
// messages as the other mechanisms' buffers, 4 to 1024; a sender has two
// buffers more than that, so it never overwrites one not yet copied out.
type chanEnd struct {
	out, in chan []byte
	bufs    [][]byte
	next    int
}

type chanPair struct{ ab, ba chan []byte }

func setupChan(e *env) error {
	n := queueSlots(max(e.size, 1))
	e.local = &chanPair{make(chan []byte, n), make(chan []byte, n)}
	return nil
}

func openChan(e *env, side int) (end, error) {
	p := e.local.(*chanPair)
	c := &chanEnd{out: p.ab, in: p.ba}
	if side == sideB {
		c.out, c.in = p.ba, p.ab
	}
	c.bufs = make([][]byte, cap(c.out)+2)
	for i := range c.bufs {
		c.bufs[i] = make([]byte, e.size)
	}
	return c, nil
}

func (c *chanEnd) send(msg []byte) error {
	b := c.bufs[c.next]
	c.next = (c.next + 1) % len(c.bufs)
	c.out <- b[:copy(b, msg)]
	return nil
}

func (c *chanEnd) recv(buf []byte) ([]byte, error) {
	m, ok := <-c.in
	if !ok {
		return nil, io.EOF
	}
	return buf[:copy(buf, m)], nil
}

func (c *chanEnd) done() {}

func (c *chanEnd) close() error {
	close(c.out)
	return nil
}

package futex

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Shared futexes: no FUTEX_PRIVATE_FLAG, since waiters and wakers are in
// different processes.
const (
	opWait = 0 // FUTEX_WAIT
	opWake = 1 // FUTEX_WAKE
)

func wait(addr *uint32, val uint32, deadline time.Time) error {
	for {
		var tsp *unix.Timespec
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return ErrTimeout
			}
			ts := unix.NsecToTimespec(int64(d))
			tsp = &ts
		}
		_, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), opWait,
			uintptr(val), uintptr(unsafe.Pointer(tsp)), 0, 0)
		switch errno {
		case 0, unix.EAGAIN:
			// Woken (or spuriously woken), or *addr != val already.
			return nil
		case unix.EINTR:
			// A signal (Go's preemption signal among them) interrupted
			// the sleep; go back to sleep for the time that remains.
			continue
		case unix.ETIMEDOUT:
			return ErrTimeout
		default:
			// EFAULT or EINVAL: addr is not a valid, aligned word. The
			// callers own their words, so this is a bug; do not spin.
			panic("futex: wait: " + errno.Error())
		}
	}
}

func wake(addr *uint32, n int) int {
	r, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), opWake,
		uintptr(n), 0, 0, 0)
	if errno != 0 {
		panic("futex: wake: " + errno.Error())
	}
	return int(r)
}

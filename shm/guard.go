package shm

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
)

// ErrTruncated reports that a segment's file is now shorter than its
// mapping: another process truncated it, and the memory past the new end is
// gone. Touching it raises SIGBUS, which Guard turns into this error.
// Anonymous segments cannot be truncated (their size is sealed).
var ErrTruncated = errors.New("segment file truncated under its mapping")

// Check reports whether the segment's file still covers its mapping:
// ErrTruncated, in an *Error, if another process has made it shorter.
func (s *Segment) Check() error {
	fi, err := s.file.Stat()
	if err != nil {
		return &Error{Op: "check", Segment: s.name, Offset: -1, Err: err}
	}
	if fi.Size() < s.Size() {
		return &Error{Op: "check", Segment: s.name, Field: "size", Offset: offSize,
			Err: fmt.Errorf("%w: the file has %d bytes, the mapping %d", ErrTruncated, fi.Size(), s.Size())}
	}
	return nil
}

// Guard runs fn and turns a memory fault inside it — the SIGBUS of touching
// a named or file-backed segment whose file another process truncated —
// into an error wrapping ErrTruncated, instead of a crash of the program.
// Other panics go on. Go can do this only for faults in the goroutine that
// runs fn (debug.SetPanicOnFault); a fault elsewhere still ends the
// program, so guard every access to a segment that untrusted processes can
// truncate, or use an anonymous segment, which they cannot.
func Guard(fn func()) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		r := recover()
		if r == nil {
			return
		}
		if re, ok := r.(runtime.Error); ok {
			if a, ok := r.(interface{ Addr() uintptr }); ok {
				err = fmt.Errorf("%w: memory fault at %#x (%v)", ErrTruncated, a.Addr(), re)
				return
			}
		}
		panic(r)
	}()
	fn()
	return nil
}

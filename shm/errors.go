package shm

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
)

// Errors from creating or finding a segment or an object.
var (
	// ErrExist reports that a segment or an object of that name already
	// exists. errors.Is(err, fs.ErrExist) holds for it too.
	ErrExist error = &fsError{"already exists", fs.ErrExist}

	// ErrNotExist reports that no segment or no ready object has that name.
	// An object that another process is still initialising is not yet
	// visible. errors.Is(err, fs.ErrNotExist) holds for it too.
	ErrNotExist error = &fsError{"does not exist", fs.ErrNotExist}

	// ErrWrongKind reports that the name holds an object of another kind
	// (a mutex where a queue was asked for, a Value[int32] opened as a
	// Value[float64]).
	ErrWrongKind = errors.New("object of another kind")

	// ErrNoSpace reports that the segment's heap or its directory is full,
	// or that creating a segment could not reserve its memory (the /dev/shm
	// or memory limit); the error text says which, and how much was asked
	// for and left.
	ErrNoSpace = errors.New("no space left")

	// ErrBadName reports a name that is not 1 to 32 bytes of
	// [A-Za-z0-9._-], or is "." or "..".
	ErrBadName = errors.New("invalid name")
)

// Errors from reading memory that another process wrote.
var (
	// ErrCorrupt reports bytes in shared memory that break the layout: a
	// wrong magic number, a length or offset out of bounds, overlapping
	// objects, an invalid name or state. A peer may be buggy, hostile or may
	// have been killed mid-write; nothing out of bounds is ever read.
	ErrCorrupt = errors.New("corrupt shared memory")

	// ErrVersion reports a segment written with another layout version.
	ErrVersion = errors.New("unsupported layout version")
)

// Error records a failed operation on a segment or an object inside one, in
// the shape of fs.PathError: what was done, to which object, at which field,
// and the underlying error (a sentinel of this or another shmkit package,
// possibly wrapped with detail).
type Error struct {
	Op      string // operation: "open", "create", "alloc", "lookup", "open mutex", ...
	Segment string // segment name or file path; "" for an anonymous segment
	Object  string // object name; "" when the error is about the segment itself
	Field   string // layout field at fault; "" when none
	Offset  int64  // byte offset of Field from the start of the segment; -1 when unknown
	Err     error
}

func (e *Error) Error() string {
	s := "shm: " + e.Op + " "
	if e.Segment != "" {
		s += strconv.Quote(e.Segment)
	} else {
		s += "(anonymous segment)"
	}
	if e.Object != "" {
		s += " object " + strconv.Quote(e.Object)
	}
	if e.Field != "" {
		s += ": field " + e.Field
		if e.Offset >= 0 {
			s += fmt.Sprintf(" (offset %d)", e.Offset)
		}
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the underlying error, for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// fsError is a sentinel that also matches an io/fs sentinel.
type fsError struct {
	msg string
	fs  error
}

func (e *fsError) Error() string        { return e.msg }
func (e *fsError) Is(target error) bool { return target == e.fs }

// osError converts the errno of a failed file operation on a segment into
// this package's sentinel where there is one, keeping the errno in the chain.
func osError(op, path string, err error) error {
	pe := &fs.PathError{Op: op, Path: path, Err: err}
	switch {
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%w (%w)", ErrExist, pe)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w (%w)", ErrNotExist, pe)
	}
	return pe
}

// detail wraps a sentinel with a formatted explanation.
func detail(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}

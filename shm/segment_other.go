//go:build !linux

package shm

import (
	"errors"
	"os"
)

// Dir is the directory that holds named segments.
const Dir = "/dev/shm"

func unsupported(op, name string) error {
	return &Error{Op: op, Segment: name, Offset: -1, Err: errors.ErrUnsupported}
}

// Create is not yet supported on this system.
func Create(name string, size int64) (*Segment, error) { return nil, unsupported("create", name) }

// Open is not yet supported on this system.
func Open(name string) (*Segment, error) { return nil, unsupported("open", name) }

// Remove is not yet supported on this system.
func Remove(name string) error { return unsupported("remove", name) }

// CreateFile is not yet supported on this system.
func CreateFile(path string, size int64) (*Segment, error) { return nil, unsupported("create", path) }

// OpenFile is not yet supported on this system.
func OpenFile(path string) (*Segment, error) { return nil, unsupported("open", path) }

// CreateAnon is not yet supported on this system.
func CreateAnon(size int64) (*Segment, error) { return nil, unsupported("create", "") }

// FromFile is not yet supported on this system.
func FromFile(f *os.File, name string) (*Segment, error) { return nil, unsupported("open", name) }

func unmap(mem []byte) error { return nil }

package shm

import (
	"encoding/binary"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/proc"
	"github.com/shmkit/shmkit/internal/robust"
	"github.com/shmkit/shmkit/internal/spin"
)

// A Segment is a mapping of shared memory with a directory of named objects.
// Its methods are safe for concurrent use.
//
// Close unmaps the memory: every object found in or created in the segment
// must no longer be used after Close (a use faults, as a use of unmapped
// memory does in C).
type Segment struct {
	_ layout.NoCopy

	name  string // named: the name; file-backed: the path; anonymous: ""
	file  *os.File
	mem   []byte
	geo   geometry
	alloc robust.Mutex
	spin  spin.Budget

	closeOnce sync.Once
	closeErr  error
}

// Name returns the segment's name: the name under /dev/shm for a named
// segment, the path for a file-backed one, and "" for an anonymous one.
func (s *Segment) Name() string { return s.name }

// Size returns the segment's size in bytes, header included.
func (s *Segment) Size() int64 { return int64(s.geo.size) }

// File returns the file that holds the segment, to pass it to another process
// (spawn does this) or to inspect it. The Segment owns it: do not close it.
func (s *Segment) File() *os.File { return s.file }

// Close unmaps the segment and closes its file. The memory of a named or
// file-backed segment stays until it is removed; an anonymous segment's memory
// is freed when the last process that maps it closes it or exits. Closing
// twice is harmless.
func (s *Segment) Close() error {
	s.closeOnce.Do(func() {
		err := unmap(s.mem)
		if cerr := s.file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			s.closeErr = &Error{Op: "close", Segment: s.name, Offset: -1, Err: err}
		}
	})
	return s.closeErr
}

// initHeader writes the header of a new segment of size bytes into mem (all
// zero) and publishes it by storing the magic number last.
func initHeader(mem []byte, size int64) {
	dirCap := dirCapFor(size)
	heap := heapOffsetFor(dirCap)
	ne := binary.NativeEndian
	ne.PutUint32(mem[offVersion:], Version)
	ne.PutUint32(mem[offHeaderSize:], HeaderSize)
	ne.PutUint64(mem[offSize:], uint64(size))
	ne.PutUint32(mem[offDirOffset:], HeaderSize)
	ne.PutUint32(mem[offDirCap:], dirCap)
	ne.PutUint64(mem[offHeapOffset:], heap)
	ne.PutUint64(mem[offCreated:], uint64(time.Now().UnixNano()))
	ne.PutUint64(mem[offCreator:], uint64(proc.Self()))
	ne.PutUint64(mem[offHeapNext:], heap)
	// Release: a process that reads the magic sees the whole header.
	atomic.StoreUint64(layout.U64(mem, offMagic), ne.Uint64(magic[:]))
}

// attach validates a mapped segment and wraps it in a Segment. On error the
// caller unmaps and closes.
func attach(f *os.File, name string, mem []byte, op string) (*Segment, error) {
	g, flt := checkHeader(mem, int64(len(mem)))
	if flt == nil {
		flt = checkDirectory(mem, g)
	}
	if flt != nil {
		return nil, &Error{Op: op, Segment: name, Field: flt.field, Offset: flt.off, Err: flt.err}
	}
	s := &Segment{name: name, file: f, mem: mem, geo: g}
	s.alloc = robust.Mutex{Word: layout.U64(mem, offAllocLock), Budget: &s.spin}
	return s, nil
}

// Info describes a segment: what its header records.
type Info struct {
	Name       string    // as Name returns
	Size       int64     // total bytes
	Version    uint32    // layout version
	Created    time.Time // creation time
	CreatorPid int       // process that created it
	Entries    int       // directory capacity
	Used       int       // directory entries claimed
	HeapFree   int64     // heap bytes not yet allocated
}

// Info returns what the segment's header records about it.
func (s *Segment) Info() Info {
	d, _ := loadDirState(s.mem, s.geo)
	return Info{
		Name:       s.name,
		Size:       int64(s.geo.size),
		Version:    le32(s.mem, offVersion),
		Created:    time.Unix(0, int64(le64(s.mem, offCreated))),
		CreatorPid: proc.Identity(le64(s.mem, offCreator)).Pid(),
		Entries:    int(s.geo.dirCap),
		Used:       int(d.used),
		HeapFree:   int64(s.geo.size - min(max(d.heapNext, s.geo.heapOffset), s.geo.size)),
	}
}

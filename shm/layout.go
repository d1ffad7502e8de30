package shm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/layout"
)

// Version is the layout version this build writes and reads. Any change to
// the byte layout of the header, the directory or any object kind bumps it;
// a segment of another version is refused with ErrVersion.
const Version = 3

// magic opens every segment. The leading non-ASCII byte and the trailing
// newline catch text-mode mangling, as in PNG.
var magic = [8]byte{0x89, 'S', 'H', 'M', 'K', 'I', 'T', '\n'}

// header documents the segment header; the off* constants below are its
// field offsets, and a test keeps the two in agreement.
type header struct {
	Magic      [8]byte // "\x89SHMKIT\n"
	Version    uint32  // layout version
	HeaderSize uint32  // HeaderSize
	Size       uint64  // total segment size in bytes
	DirOffset  uint32  // offset of the directory: HeaderSize
	DirCap     uint32  // directory capacity in entries
	HeapOffset uint64  // offset of the first object byte
	Created    int64   // creation time, Unix nanoseconds
	Creator    uint64  // creating process's identity (pid<<32 | start ticks)
	_          [8]byte
	AllocLock  uint64 // robust lock word guarding allocation (own cache line)
	HeapNext   uint64 // first free heap byte; written under AllocLock
	DirUsed    uint32 // directory entries claimed; written under AllocLock, last
	_          [172]byte
}

// Header field offsets (see header).
const (
	offMagic      = 0
	offVersion    = 8
	offHeaderSize = 12
	offSize       = 16
	offDirOffset  = 24
	offDirCap     = 28
	offHeapOffset = 32
	offCreated    = 40
	offCreator    = 48
	offAllocLock  = 64
	offHeapNext   = 72
	offDirUsed    = 80

	// HeaderSize is the size of the segment header in bytes.
	HeaderSize = 256
)

// entry documents a directory entry; the ent* constants are its offsets.
type entry struct {
	State   uint32   // stateFree, stateInit, stateReady or stateAbandoned
	Kind    uint32   // Kind
	Offset  uint64   // object's offset from the segment start, 64-byte aligned
	Size    uint64   // object's size in bytes
	Creator uint64   // identity of the creating process
	Name    [32]byte // name, NUL-padded
}

const (
	entState   = 0
	entKind    = 4
	entOffset  = 8
	entSize    = 16
	entCreator = 24
	entName    = 32

	// EntrySize is the size of a directory entry in bytes.
	EntrySize = 64
)

// Entry states. An entry moves free → init → ready, or init → abandoned when
// its creator failed or died while initialising the object. A ready entry
// never changes again.
const (
	stateFree      = 0 // beyond DirUsed: never claimed
	stateInit      = 1 // claimed; the creator is initialising the object
	stateReady     = 2 // initialised and visible to Lookup
	stateAbandoned = 3 // creator failed or died; name free, space not reused
)

// Directory sizing and limits.
const (
	// MinSize is the smallest segment: header, a directory of MinEntries
	// and some heap.
	MinSize = 4096

	// MinEntries and MaxEntries bound the directory capacity, which is
	// Size/BytesPerEntry clamped to [MinEntries, MaxEntries].
	MinEntries    = 32
	MaxEntries    = 8192
	BytesPerEntry = 2048

	// MaxAlign is the largest alignment Alloc accepts: the mapping itself
	// is only page-aligned.
	MaxAlign = 4096
)

// dirCapFor returns the directory capacity of a segment of size bytes.
func dirCapFor(size int64) uint32 {
	n := size / BytesPerEntry
	return uint32(min(max(n, MinEntries), MaxEntries))
}

// geometry is what a validated header says about the segment.
type geometry struct {
	size       uint64
	dirCap     uint32
	heapOffset uint64
}

func heapOffsetFor(dirCap uint32) uint64 {
	return HeaderSize + uint64(dirCap)*EntrySize
}

// fault locates a layout error: the field, its offset and the error.
type fault struct {
	field string
	off   int64
	err   error
}

func faultf(field string, off int64, sentinel error, format string, args ...any) *fault {
	return &fault{field, off, detail(sentinel, format, args...)}
}

// checkHeader validates the header in b, the first bytes of a segment file of
// fileSize bytes, in the order magic, version, sizes, directory bounds. b may
// be shorter than the file but must hold the header to pass.
func checkHeader(b []byte, fileSize int64) (geometry, *fault) {
	var g geometry
	if fileSize < HeaderSize || len(b) < HeaderSize {
		return g, faultf("", -1, ErrCorrupt, "file is %d bytes, shorter than the %d-byte header", fileSize, HeaderSize)
	}
	if !bytes.Equal(b[offMagic:offMagic+8], magic[:]) {
		return g, faultf("magic", offMagic, ErrCorrupt, "bytes %q are not a shmkit segment", b[offMagic:offMagic+8])
	}
	if v := le32(b, offVersion); v != Version {
		return g, faultf("version", offVersion, ErrVersion, "segment has layout version %d, this build reads %d", v, Version)
	}
	if hs := le32(b, offHeaderSize); hs != HeaderSize {
		return g, faultf("header_size", offHeaderSize, ErrCorrupt, "header size %d, want %d", hs, HeaderSize)
	}
	g.size = le64(b, offSize)
	if g.size != uint64(fileSize) {
		return g, faultf("size", offSize, ErrCorrupt, "header says %d bytes, file is %d", g.size, fileSize)
	}
	if g.size < MinSize {
		return g, faultf("size", offSize, ErrCorrupt, "size %d below the minimum %d", g.size, MinSize)
	}
	if d := le32(b, offDirOffset); d != HeaderSize {
		return g, faultf("dir_offset", offDirOffset, ErrCorrupt, "directory at %d, want %d", d, HeaderSize)
	}
	g.dirCap = le32(b, offDirCap)
	if g.dirCap < MinEntries || g.dirCap > MaxEntries {
		return g, faultf("dir_cap", offDirCap, ErrCorrupt, "directory capacity %d outside [%d, %d]", g.dirCap, MinEntries, MaxEntries)
	}
	g.heapOffset = le64(b, offHeapOffset)
	if want := heapOffsetFor(g.dirCap); g.heapOffset != want {
		return g, faultf("heap_offset", offHeapOffset, ErrCorrupt, "heap at %d, want %d for %d entries", g.heapOffset, want, g.dirCap)
	}
	if g.heapOffset > g.size {
		return g, faultf("dir_cap", offDirCap, ErrCorrupt, "directory of %d entries ends at %d, past the segment's %d bytes", g.dirCap, g.heapOffset, g.size)
	}
	return g, nil
}

// dirState is a consistent view of the allocation counters.
type dirState struct {
	used     uint32 // entries claimed
	heapNext uint64 // first free heap byte
}

// loadDirState reads the allocation counters of a mapped segment and checks
// their bounds. DirUsed is read before HeapNext: every entry below DirUsed was
// complete, with its space below HeapNext, before DirUsed was stored.
func loadDirState(mem []byte, g geometry) (dirState, *fault) {
	var d dirState
	// Acquire: entries below used are fully written.
	d.used = atomic.LoadUint32(layout.U32(mem, offDirUsed))
	d.heapNext = atomic.LoadUint64(layout.U64(mem, offHeapNext))
	if d.used > g.dirCap {
		return d, faultf("dir_used", offDirUsed, ErrCorrupt, "%d entries used of %d", d.used, g.dirCap)
	}
	if d.heapNext < g.heapOffset || d.heapNext > g.size {
		return d, faultf("heap_next", offHeapNext, ErrCorrupt, "heap next %d outside [%d, %d]", d.heapNext, g.heapOffset, g.size)
	}
	return d, nil
}

// entryView is one directory entry, read once from shared memory.
type entryView struct {
	index   uint32
	state   uint32
	kind    Kind
	offset  uint64
	size    uint64
	creator uint64
	name    string
}

func entryOffset(i uint32) int { return HeaderSize + int(i)*EntrySize }

// readEntry reads entry i. The state is read first, with acquire ordering:
// the other fields of a ready entry were written before its state.
func readEntry(mem []byte, i uint32) entryView {
	base := entryOffset(i)
	e := entryView{index: i}
	e.state = atomic.LoadUint32(layout.U32(mem, base+entState))
	e.kind = Kind(atomic.LoadUint32(layout.U32(mem, base+entKind)))
	e.offset = atomic.LoadUint64(layout.U64(mem, base+entOffset))
	e.size = atomic.LoadUint64(layout.U64(mem, base+entSize))
	e.creator = atomic.LoadUint64(layout.U64(mem, base+entCreator))
	raw := mem[base+entName : base+entName+MaxNameLen]
	if n := bytes.IndexByte(raw, 0); n >= 0 {
		raw = raw[:n]
	}
	e.name = string(raw)
	return e
}

// checkEntry validates a claimed entry against the heap bounds.
func checkEntry(e entryView, g geometry, heapNext uint64) *fault {
	base := int64(entryOffset(e.index))
	field := func(f string) string { return fmt.Sprintf("directory[%d].%s", e.index, f) }
	if e.state != stateInit && e.state != stateReady && e.state != stateAbandoned {
		return faultf(field("state"), base+entState, ErrCorrupt, "state %d", e.state)
	}
	if p := nameProblem(e.name); p != "" {
		return faultf(field("name"), base+entName, ErrCorrupt, "name %q: %s", e.name, p)
	}
	if e.kind == 0 {
		return faultf(field("kind"), base+entKind, ErrCorrupt, "kind 0")
	}
	if e.offset < g.heapOffset || e.offset%layout.CacheLine != 0 {
		return faultf(field("offset"), base+entOffset, ErrCorrupt, "offset %d not in the heap or not 64-byte aligned", e.offset)
	}
	if e.size == 0 || !layout.InBounds(e.offset, e.size, heapNext) {
		return faultf(field("size"), base+entSize, ErrCorrupt, "object [%d, +%d) outside the allocated heap [%d, %d)", e.offset, e.size, g.heapOffset, heapNext)
	}
	return nil
}

// checkDirectory validates every claimed entry of a mapped segment: states,
// names, bounds, no two objects overlapping, no two ready objects sharing a
// name.
func checkDirectory(mem []byte, g geometry) *fault {
	d, f := loadDirState(mem, g)
	if f != nil {
		return f
	}
	entries := make([]entryView, 0, d.used)
	ready := make(map[string]bool, d.used)
	for i := uint32(0); i < d.used; i++ {
		e := readEntry(mem, i)
		if f := checkEntry(e, g, d.heapNext); f != nil {
			return f
		}
		if e.state == stateReady {
			if ready[e.name] {
				return faultf(fmt.Sprintf("directory[%d].name", i), int64(entryOffset(i)+entName), ErrCorrupt, "second ready object named %q", e.name)
			}
			ready[e.name] = true
		}
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b entryView) int {
		switch {
		case a.offset < b.offset:
			return -1
		case a.offset > b.offset:
			return 1
		}
		return 0
	})
	for i := 1; i < len(entries); i++ {
		prev, e := entries[i-1], entries[i]
		if prev.offset+prev.size > e.offset {
			return faultf(fmt.Sprintf("directory[%d].offset", e.index), int64(entryOffset(e.index)+entOffset), ErrCorrupt,
				"object %q at [%d, +%d) overlaps %q at [%d, +%d)", e.name, e.offset, e.size, prev.name, prev.offset, prev.size)
		}
	}
	return nil
}

// le32 and le64 read header words in the machine's byte order, the order in
// which the atomic operations wrote them (little-endian on amd64 and arm64).
func le32(b []byte, off int) uint32 { return binary.NativeEndian.Uint32(b[off:]) }

func le64(b []byte, off int) uint64 { return binary.NativeEndian.Uint64(b[off:]) }

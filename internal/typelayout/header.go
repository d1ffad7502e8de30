package typelayout

import (
	"encoding/binary"
	"fmt"

	"github.com/shmkit/shmkit/shm"
)

// HeaderSize is the size of the header that starts every typed object: one
// cache line, written once by the creator before the object becomes
// visible, and only read afterwards.
const HeaderSize = 64

// header documents the bytes of a Header; the off* constants are its field
// offsets, and a test keeps the two in agreement.
type header struct {
	Form        uint32   // what the object is; each package defines its forms
	Align       uint32   // alignment of the element type
	Size        uint64   // size of the element type in bytes
	Count       uint64   // number of elements: 1 for a value
	Fingerprint uint64   // FNV-1a 64 of the element type's description
	_           [24]byte // zero
	Check       uint64   // FNV-1a 64 of bytes [0, 56)
}

// Header field offsets (see header).
const (
	OffForm        = 0
	OffAlign       = 4
	OffSize        = 8
	OffCount       = 16
	OffFingerprint = 24
	OffCheck       = 56
)

// Header is the decoded type header of an object.
type Header struct {
	Form        uint32
	Align       uint32
	Size        uint64
	Count       uint64
	Fingerprint uint64
	Check       uint64
}

// Header returns the header of an object of form holding count elements of
// l's type. Its Check is filled in by Put.
func (l *Layout) Header(form uint32, count uint64) Header {
	return Header{Form: form, Align: uint32(l.Align), Size: l.Size, Count: count, Fingerprint: l.Fingerprint}
}

var ne = binary.NativeEndian

// Put writes h into the first HeaderSize bytes of mem, with its checksum.
// The object is not visible to other processes yet (shm.Segment.Alloc's
// init), so plain stores suffice: Alloc publishes them.
func Put(mem []byte, h Header) {
	b := mem[:HeaderSize]
	clear(b)
	ne.PutUint32(b[OffForm:], h.Form)
	ne.PutUint32(b[OffAlign:], h.Align)
	ne.PutUint64(b[OffSize:], h.Size)
	ne.PutUint64(b[OffCount:], h.Count)
	ne.PutUint64(b[OffFingerprint:], h.Fingerprint)
	ne.PutUint64(b[OffCheck:], Hash(b[:OffCheck]))
}

// Fault locates a layout error in an object: the field, its offset from the
// start of the object, and the error, which wraps shm.ErrCorrupt.
type Fault struct {
	Field  string
	Offset int64 // from the start of the object
	Err    error
}

// Faultf returns a Fault wrapping shm.ErrCorrupt with a formatted detail.
func Faultf(field string, off int64, format string, args ...any) *Fault {
	return &Fault{Field: field, Offset: off, Err: fmt.Errorf("%w: "+format, append([]any{shm.ErrCorrupt}, args...)...)}
}

// Read decodes the header at the start of mem (an object returned by
// shm.Segment.Lookup), failing only if mem is too short to hold one; Check
// validates it.
//
// The header is never written after the object is published, so plain
// loads suffice; a peer scribbling on it is caught by the checks.
func Read(mem []byte) (Header, *Fault) {
	var h Header
	if len(mem) < HeaderSize {
		return h, Faultf("", -1, "object is %d bytes, shorter than its %d-byte header", len(mem), HeaderSize)
	}
	b := mem[:HeaderSize]
	h.Form = ne.Uint32(b[OffForm:])
	h.Align = ne.Uint32(b[OffAlign:])
	h.Size = ne.Uint64(b[OffSize:])
	h.Count = ne.Uint64(b[OffCount:])
	h.Fingerprint = ne.Uint64(b[OffFingerprint:])
	h.Check = ne.Uint64(b[OffCheck:])
	return h, nil
}

// Check reads and validates the header at the start of mem, in the order
// that reports the most specific fault: the form (knownForm), the type
// fields (CheckType), the bounds of the object's contents (bounds, given
// the header and the object's size in bytes), and the checksum. The
// caller compares the type afterwards (Layout.Match).
func Check(mem []byte, knownForm func(form uint32) bool, bounds func(h Header, objectSize int) *Fault) (Header, *Fault) {
	h, f := Read(mem)
	if f == nil && !knownForm(h.Form) {
		f = Faultf("form", OffForm, "form %d is not one this build knows", h.Form)
	}
	if f == nil {
		f = h.CheckType()
	}
	if f == nil {
		f = bounds(h, len(mem))
	}
	if f == nil {
		f = CheckSum(mem, h)
	}
	return h, f
}

// CheckType checks the alignment and size fields: Go types have an
// alignment of 1, 2, 4 or 8 and a size that is a multiple of it.
func (h Header) CheckType() *Fault {
	switch h.Align {
	case 1, 2, 4, 8:
	default:
		return Faultf("align", OffAlign, "element alignment %d, want 1, 2, 4 or 8", h.Align)
	}
	if h.Size%uint64(h.Align) != 0 {
		return Faultf("size", OffSize, "element size %d is not a multiple of its alignment %d", h.Size, h.Align)
	}
	return nil
}

// CheckSum compares the checksum in mem's header with the one its other
// bytes give.
func CheckSum(mem []byte, h Header) *Fault {
	if sum := Hash(mem[:OffCheck]); sum != h.Check {
		return Faultf("check", OffCheck, "header checksum %#016x, its bytes give %#016x", h.Check, sum)
	}
	return nil
}

// Match reports whether an object whose header is h was created for l's
// type. It returns nil, or an error wrapping shm.ErrWrongKind that says
// what differs.
func (l *Layout) Match(h Header) error {
	name := l.Type.String()
	switch {
	case h.Size != l.Size:
		return fmt.Errorf("%w: created for a %d-byte type; %s is %d bytes", shm.ErrWrongKind, h.Size, name, l.Size)
	case uint64(h.Align) != l.Align:
		return fmt.Errorf("%w: created for a type with alignment %d; %s has alignment %d", shm.ErrWrongKind, h.Align, name, l.Align)
	case h.Fingerprint != l.Fingerprint:
		desc := l.Desc
		if len(desc) > 200 {
			desc = desc[:200] + "..."
		}
		return fmt.Errorf("%w: created for another %d-byte type (fingerprint %#016x): the field names, kinds or offsets of %s differ (fingerprint %#016x, %s)",
			shm.ErrWrongKind, h.Size, h.Fingerprint, name, l.Fingerprint, desc)
	}
	return nil
}

// Report converts f into the *shm.Error that reports it: op on the object
// called name in seg, with the field's offset from the start of the
// segment where the segment's directory says where the object is.
func (f *Fault) Report(op string, seg *shm.Segment, name string) *shm.Error {
	e := &shm.Error{Op: op, Segment: seg.Name(), Object: name, Field: f.Field, Offset: -1, Err: f.Err}
	if f.Offset < 0 {
		return e
	}
	for _, o := range seg.Objects() {
		if o.Name == name {
			e.Offset = o.Offset + f.Offset
		}
	}
	return e
}

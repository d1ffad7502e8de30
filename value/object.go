package value

import (
	"fmt"
	"math"
	"strconv"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/typelayout"
	"github.com/shmkit/shmkit/shm"
)

// object documents the bytes of a value object (shm.KindValue); the off*
// constants below are its field offsets, and a test keeps the two in
// agreement.
type object struct {
	Header [typelayout.HeaderSize]byte // typelayout header: form, align, size, count 1, fingerprint, check
	Lock   uint64                      // robust lock word (Value only); its own cache line
	_      [56]byte                    //
	Seq    uint64                      // seqlock sequence (Value of a T over 8 bytes)
	Data   uint64                      // slot 0; slot 1 follows it in seqlock mode
}

// Value object field offsets (see object).
const (
	offLock = 64
	offSeq  = 128
	offData = 136
)

// Forms: what a value object holds, in its header's form field. Their
// numbers are part of the layout and never change.
const (
	formValue  = 1 // Value[T]
	formInt64  = 2 // Int64
	formUint64 = 3 // Uint64
	formInt32  = 4 // Int32
	formUint32 = 5 // Uint32
)

var formNames = [...]string{
	formValue:  "a Value",
	formInt64:  "an Int64",
	formUint64: "a Uint64",
	formInt32:  "an Int32",
	formUint32: "a Uint32",
}

func formName(form uint32) string {
	if form < uint32(len(formNames)) {
		return formNames[form]
	}
	return ""
}

// Modes: how a Value's data is read and written, a function of the size of
// T alone.
const (
	modeWord32 = iota // size 0 to 4: one 32-bit word, atomic loads and stores
	modeWord64        // size 5 to 8: one 64-bit word, atomic loads and stores
	modeSeq           // larger: two slots under a latch seqlock
)

func modeFor(size uint64) int {
	switch {
	case size <= 4:
		return modeWord32
	case size <= 8:
		return modeWord64
	}
	return modeSeq
}

// slotSize returns the size of one data slot for a T of size bytes: size
// rounded up to whole 64-bit words, at least one.
func slotSize(size uint64) (uint64, bool) {
	return layout.AlignUp(max(size, 8), 8)
}

// objectSize returns the size of the object that holds a value of size
// bytes, and false if it cannot be represented.
func objectSize(size uint64) (int, bool) {
	slot, ok := slotSize(size)
	if !ok {
		return 0, false
	}
	data := slot
	if modeFor(size) == modeSeq {
		if data, ok = layout.Add(slot, slot); !ok {
			return 0, false
		}
	}
	n, ok := layout.Add(offData, data)
	if !ok || n > math.MaxInt {
		return 0, false
	}
	return int(n), true
}

// create allocates a value object of form for l's type, with its header
// written before it becomes visible.
func create(seg *shm.Segment, name string, form uint32, l *typelayout.Layout) ([]byte, error) {
	size, ok := objectSize(l.Size)
	if !ok {
		return nil, &shm.Error{Op: "create value", Segment: seg.Name(), Object: name, Offset: -1,
			Err: fmt.Errorf("%w: a value of %s (%d bytes) does not fit in memory", shm.ErrNoSpace, l.Type, l.Size)}
	}
	return seg.Alloc(name, shm.KindValue, size, 0, func(mem []byte) error {
		typelayout.Put(mem, l.Header(form, 1))
		return nil
	})
}

// open finds the value object called name, validates its header (form,
// type fields, bounds, checksum: any fault is shm.ErrCorrupt) and checks
// that it holds form for l's type (shm.ErrWrongKind otherwise).
func open(seg *shm.Segment, name string, form uint32, l *typelayout.Layout) ([]byte, error) {
	const op = "open value"
	mem, err := seg.Lookup(name, shm.KindValue)
	if err != nil {
		return nil, err
	}
	h, f := typelayout.Check(mem, func(form uint32) bool { return formName(form) != "" }, bounds)
	if f != nil {
		return nil, f.Report(op, seg, name)
	}
	if h.Form != form {
		return nil, &shm.Error{Op: op, Segment: seg.Name(), Object: name, Offset: -1,
			Err: fmt.Errorf("%w: it is %s, not %s", shm.ErrWrongKind, formName(h.Form), formName(form))}
	}
	if err := l.Match(h); err != nil {
		return nil, &shm.Error{Op: op, Segment: seg.Name(), Object: name, Offset: -1, Err: err}
	}
	return mem, nil
}

// bounds checks that a value object's header describes one value that fits
// in the object's size bytes.
func bounds(h typelayout.Header, size int) *typelayout.Fault {
	if h.Count != 1 {
		return typelayout.Faultf("count", typelayout.OffCount, "count %d, a value holds 1", h.Count)
	}
	if need, ok := objectSize(h.Size); !ok || need > size {
		return typelayout.Faultf("size", typelayout.OffSize, "a %d-byte value does not fit in the %d-byte object", h.Size, size)
	}
	return nil
}

// objectName is how panic messages name the object.
func objectName(seg *shm.Segment, name string) string {
	if seg.Name() == "" {
		return strconv.Quote(name)
	}
	return strconv.Quote(seg.Name()) + "/" + strconv.Quote(name)
}

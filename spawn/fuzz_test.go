package spawn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/shm"
)

// inputsOf encodes items as a call's inputs.
func inputsOf(items ...[]byte) *inputs {
	in := &inputs{off: []uint32{0}}
	for _, it := range items {
		in.buf = append(in.buf, it...)
		in.off = append(in.off, uint32(len(in.buf)))
	}
	return in
}

// within reports whether the bytes of s lie inside b.
func within(b, s []byte) bool {
	if len(s) == 0 {
		return true
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	return p >= lo && p+uintptr(len(s)) <= lo+uintptr(len(b))
}

// FuzzPoolWire feeds arbitrary bytes to the parsers of the pool's messages,
// which read what a worker or the parent wrote into a shared ring and may
// be damaged: parseFragment, parseRequest and parseResult (with the item
// count the parent expects, and with the count the message claims). Each
// must return errWire, which matches shm.ErrCorrupt, or a result whose
// slices lie within the input (items and outputs capped at their own end,
// so that an append cannot write over the next) and that the encoders turn
// back into exactly the input; never panic.
func FuzzPoolWire(f *testing.F) {
	frag := putFragment(nil, 7, 3, true, []byte("piece"))
	f.Add(frag, uint16(0))
	f.Add(putFragment(nil, ^uint64(0), ^uint32(0), false, nil), uint16(0))
	badFlags := bytes.Clone(frag)
	binary.LittleEndian.PutUint32(badFlags[12:], 2)
	f.Add(badFlags, uint16(0))
	f.Add(frag[:fragHeader-1], uint16(0))

	req := appendRequest(nil, "task", inputsOf([]byte("a"), nil, []byte("ccc")), 0, 3)
	f.Add(req, uint16(3))
	f.Add(appendRequest(nil, strings.Repeat("n", maxName), inputsOf(nil), 0, 1), uint16(1))
	f.Add(appendRequest(nil, "", inputsOf(), 0, 0), uint16(0))
	huge := bytes.Clone(req)
	binary.LittleEndian.PutUint32(huge[1+4:], ^uint32(0)) // count: all ones
	f.Add(huge, uint16(0xffff))
	long := bytes.Clone(req)
	binary.LittleEndian.PutUint32(long[1+4+4:], 1<<31) // first item's length beyond the body
	f.Add(long, uint16(3))
	f.Add(append(bytes.Clone(req), 0), uint16(3)) // a trailing byte
	f.Add([]byte{255, 'x'}, uint16(0))            // a name longer than the body

	res := appendResultHeader(nil, 3)
	res = appendResultItem(res, statusOK, []byte("out"))
	res = appendResultItem(res, statusError, []byte("failed"))
	res = appendResultItem(res, statusPanic, nil)
	f.Add(res, uint16(3))
	f.Add(res, uint16(2))
	badStatus := bytes.Clone(res)
	badStatus[4] = statusPanic + 1
	f.Add(badStatus, uint16(3))
	hugeRes := bytes.Clone(res)
	binary.LittleEndian.PutUint32(hugeRes[4+1:], ^uint32(0)) // an item's length: all ones
	f.Add(hugeRes, uint16(3))
	f.Add(appendResultHeader(nil, 0xffff), uint16(0xffff)) // many items promised, none sent
	f.Add(putFragment(nil, 1, 0, true, res), uint16(3))
	f.Add([]byte{}, uint16(0))

	f.Fuzz(func(t *testing.T, b []byte, want uint16) {
		if fr, err := parseFragment(b); err != nil {
			if !errors.Is(err, shm.ErrCorrupt) {
				t.Fatalf("parseFragment = %v, want ErrCorrupt", err)
			}
		} else if !within(b, fr.piece) || !bytes.Equal(putFragment(nil, fr.id, fr.slot, fr.last, fr.piece), b) {
			t.Fatalf("parseFragment(%x) = %+v, which does not encode back", b, fr)
		}

		if task, items, err := parseRequest(b); err != nil {
			if !errors.Is(err, shm.ErrCorrupt) {
				t.Fatalf("parseRequest = %v, want ErrCorrupt", err)
			}
		} else {
			for i, it := range items {
				if !within(b, it) || cap(it) != len(it) {
					t.Fatalf("parseRequest(%x): item %d (%d bytes, capacity %d) is not a capped part of the body", b, i, len(it), cap(it))
				}
			}
			if back := appendRequest(nil, task, inputsOf(items...), 0, len(items)); !bytes.Equal(back, b) {
				t.Fatalf("parseRequest(%x) = %q, %q, which encodes as %x", b, task, items, back)
			}
		}

		checkResult := func(want int) {
			t.Helper()
			out, err := parseResult(b, want)
			if err != nil {
				if !errors.Is(err, shm.ErrCorrupt) {
					t.Fatalf("parseResult(_, %d) = %v, want ErrCorrupt", want, err)
				}
				return
			}
			if len(out) != want {
				t.Fatalf("parseResult(%x, %d) gave %d items", b, want, len(out))
			}
			back := appendResultHeader(nil, want)
			for i, r := range out {
				if r.status > statusPanic || !within(b, r.data) || cap(r.data) != len(r.data) {
					t.Fatalf("parseResult(%x, %d): item %d has status %d, %d bytes, capacity %d", b, want, i, r.status, len(r.data), cap(r.data))
				}
				back = appendResultItem(back, r.status, r.data)
			}
			if !bytes.Equal(back, b) {
				t.Fatalf("parseResult(%x, %d) encodes back as %x", b, want, back)
			}
		}
		checkResult(int(want))
		// The count the message claims, which a parent that sent that
		// many inputs would expect; each item takes at least 5 bytes.
		if len(b) >= 4 {
			if n := binary.LittleEndian.Uint32(b); uint64(n) <= uint64(len(b)) {
				checkResult(int(n))
			}
		}
	})
}

package typelayout

import (
	"bytes"
	"errors"
	"math"
	"math/bits"
	"testing"

	"github.com/shmkit/shmkit/shm"
)

// fuzzKnown accepts the forms of value objects, 1 to 5.
func fuzzKnown(form uint32) bool { return form >= 1 && form <= 5 }

// The bounds rules FuzzCheck gives Check: a value's (one element, in one
// or two 8-byte-aligned slots after a 136-byte prefix), an array's (count
// elements after a 128-byte prefix, and a count an int holds), and none.
var fuzzBounds = []func(h Header, size int) *Fault{
	func(h Header, size int) *Fault {
		if h.Count != 1 {
			return Faultf("count", OffCount, "count %d", h.Count)
		}
		slot := max(h.Size, 8)
		if slot > math.MaxUint64-7 {
			return Faultf("size", OffSize, "size %d", h.Size)
		}
		slot = (slot + 7) &^ 7
		n := uint64(1)
		if h.Size > 8 {
			n = 2
		}
		if hi, data := bits.Mul64(slot, n); hi != 0 || data > uint64(size) || uint64(size)-data < 136 {
			return Faultf("size", OffSize, "size %d in %d bytes", h.Size, size)
		}
		return nil
	},
	func(h Header, size int) *Fault {
		hi, data := bits.Mul64(h.Size, h.Count)
		if hi != 0 || h.Count > math.MaxInt || size < 128 || data > uint64(size-128) {
			return Faultf("count", OffCount, "%d × %d in %d bytes", h.Count, h.Size, size)
		}
		return nil
	},
	func(Header, int) *Fault { return nil },
}

// FuzzCheck reads arbitrary bytes as a typed object through Check, with
// each bounds rule. Check must return a Fault wrapping shm.ErrCorrupt that
// names the first field to fail, in the documented order (the bytes are
// too short for a header, form, alignment and size, bounds, checksum), at
// that field's offset; or the header Read decodes, which then has a known
// form, an alignment of 1, 2, 4 or 8 dividing its size, bounds the rule
// accepts, and the checksum of its bytes, and which Put writes back as
// the same bytes when the reserved ones are zero. Never a panic.
func FuzzCheck(f *testing.F) {
	put := func(size int, h Header) []byte {
		b := make([]byte, size)
		Put(b, h)
		return b
	}
	i64 := Header{Form: 1, Align: 8, Size: 8, Count: 1, Fingerprint: Hash([]byte("int64"))}
	f.Add(put(144, i64), uint8(0))
	f.Add(put(144, i64)[:HeaderSize-1], uint8(0))
	f.Add([]byte{}, uint8(1))
	f.Add(put(200, Header{Form: 1, Align: 8, Size: 32, Count: 1, Fingerprint: 42}), uint8(0))
	f.Add(put(128+3*6, Header{Form: 1, Align: 2, Size: 6, Count: 3, Fingerprint: 7}), uint8(1))
	f.Add(put(128, Header{Form: 1, Align: 1, Size: 0, Count: 1 << 63}), uint8(1))
	f.Add(put(128, Header{Form: 1, Align: 1, Size: 0, Count: math.MaxInt64}), uint8(1))
	f.Add(put(128, Header{Form: 1, Align: 8, Size: 1 << 32, Count: 1 << 32}), uint8(1))
	f.Add(put(144, Header{Form: 1, Align: 8, Size: math.MaxUint64 - 7, Count: 1}), uint8(0))
	f.Add(put(144, Header{Form: 9, Align: 8, Size: 8, Count: 1}), uint8(2))
	f.Add(put(144, Header{Form: 2, Align: 3, Size: 9, Count: 1}), uint8(2))
	f.Add(put(144, Header{Form: 2, Align: 4, Size: 6, Count: 1}), uint8(2))
	f.Add(bytes.Repeat([]byte{0xff}, 200), uint8(2))
	padded := put(144, i64)
	padded[40] = 1 // a reserved byte, under the checksum
	f.Add(padded, uint8(0))
	f.Fuzz(func(t *testing.T, mem []byte, rule uint8) {
		bounds := fuzzBounds[int(rule)%len(fuzzBounds)]
		h, flt := Check(mem, fuzzKnown, bounds)
		want, wantOff := "", int64(-1) // the first field to fail; "" and -1 too short, or none
		if len(mem) < HeaderSize {
			want = "short"
		} else if r, _ := Read(mem); !fuzzKnown(r.Form) {
			want, wantOff = "form", OffForm
		} else if r.Align != 1 && r.Align != 2 && r.Align != 4 && r.Align != 8 {
			want, wantOff = "align", OffAlign
		} else if r.Size%uint64(r.Align) != 0 {
			want, wantOff = "size", OffSize
		} else if bf := bounds(r, len(mem)); bf != nil {
			want, wantOff = bf.Field, bf.Offset
		} else if Hash(mem[:OffCheck]) != r.Check {
			want, wantOff = "check", OffCheck
		}
		if flt != nil {
			field := flt.Field
			if field == "" {
				field = "short"
			}
			if !errors.Is(flt.Err, shm.ErrCorrupt) || field != want || flt.Offset != wantOff {
				t.Fatalf("Check = fault %q at %d: %v; want ErrCorrupt for %q at %d", flt.Field, flt.Offset, flt.Err, want, wantOff)
			}
			return
		}
		if want != "" {
			t.Fatalf("Check = %+v, no fault; want one for %q", h, want)
		}
		if r, _ := Read(mem); r != h {
			t.Fatalf("Check = %+v, Read = %+v", h, r)
		}
		if bytes.Count(mem[OffFingerprint+8:OffCheck], []byte{0}) == OffCheck-OffFingerprint-8 {
			back := make([]byte, HeaderSize)
			Put(back, h)
			if !bytes.Equal(back, mem[:HeaderSize]) {
				t.Fatalf("Check = %+v; Put writes %x, the bytes were %x", h, back, mem[:HeaderSize])
			}
		}
	})
}

// Package layout holds the helpers that every shared-memory object uses to
// address its fields: typed pointers at checked offsets inside a mapping,
// alignment arithmetic, and the NoCopy marker.
package layout

import (
	"math/bits"
	"reflect"
	"unsafe"
)

// CacheLine is the alignment that keeps independently written words from
// sharing a cache line.
const CacheLine = 64

// AlignUp rounds n up to a multiple of align, a power of two. It returns
// false if the result overflows.
func AlignUp(n, align uint64) (uint64, bool) {
	r := (n + align - 1) &^ (align - 1)
	return r, r >= n
}

// Add returns a+b and whether it did not overflow.
func Add(a, b uint64) (uint64, bool) {
	s, carry := bits.Add64(a, b, 0)
	return s, carry == 0
}

// InBounds reports whether [off, off+n) lies inside a region of size bytes.
func InBounds(off, n, size uint64) bool {
	end, ok := Add(off, n)
	return ok && end <= size
}

// U32 returns a pointer to the uint32 at off in b, panicking if it is out
// of bounds. It is small enough to inline into hot paths, so it does not
// check alignment: every object starts on a 64-byte boundary and its word
// offsets are constants or validated multiples of the word size (see
// Aligned, which tests check them with).
func U32(b []byte, off int) *uint32 {
	return (*uint32)(unsafe.Pointer(&b[off : off+4][0]))
}

// U64 returns a pointer to the uint64 at off in b, like U32.
func U64(b []byte, off int) *uint64 {
	return (*uint64)(unsafe.Pointer(&b[off : off+8][0]))
}

// I64 returns a pointer to the int64 at off in b, like U32.
func I64(b []byte, off int) *int64 {
	return (*int64)(unsafe.Pointer(&b[off : off+8][0]))
}

// Aligned reports whether the word of size bytes at off in b is aligned to
// its size, as atomic operations need.
func Aligned(b []byte, off, size int) bool {
	return off >= 0 && off+size <= len(b) && uintptr(unsafe.Pointer(&b[off]))%uintptr(size) == 0
}

// Offset returns the byte offset of the field named name in the struct type
// of v. Tests use it to check that offset constants match the structs that
// document them.
func Offset(v any, name string) uintptr {
	f, ok := reflect.TypeOf(v).FieldByName(name)
	if !ok {
		panic("layout: no field " + name)
	}
	return f.Offset
}

// NoCopy may be embedded in a handle type that must not be copied after first
// use; go vet's copylocks check reports copies.
type NoCopy struct{}

// Lock is a no-op used by go vet's copylocks check.
func (*NoCopy) Lock() {}

// Unlock is a no-op used by go vet's copylocks check.
func (*NoCopy) Unlock() {}

package value

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"unsafe"

	"github.com/shmkit/shmkit/internal/typelayout"
	"github.com/shmkit/shmkit/shm"
)

// Codec converts values of T to the bytes a map stores, and back: it is
// how a Map keeps keys or values of types that cannot live in shared memory
// as they are (strings, slices, maps, structs with pointers).
//
// Every process that shares a map must use the same codecs. A key codec
// must also be deterministic: equal keys must encode to equal bytes, since
// the map compares and hashes keys by their bytes.
type Codec[T any] interface {
	// Append appends the encoding of x to dst and returns the extended
	// slice.
	Append(dst []byte, x T) ([]byte, error)

	// Decode returns the value that b encodes. b is valid only during the
	// call: Decode must copy what it keeps.
	Decode(b []byte) (T, error)
}

// StringCodec stores a string as its bytes.
type StringCodec struct{}

// Append appends the bytes of s to dst.
func (StringCodec) Append(dst []byte, s string) ([]byte, error) { return append(dst, s...), nil }

// Decode returns b as a string.
func (StringCodec) Decode(b []byte) (string, error) { return string(b), nil }

// BytesCodec stores a []byte as itself. It is for values: a []byte cannot
// be a Map key (it is not comparable); a BytesMap takes []byte keys.
type BytesCodec struct{}

// Append appends b to dst.
func (BytesCodec) Append(dst, b []byte) ([]byte, error) { return append(dst, b...), nil }

// Decode returns a copy of b (an empty, non-nil slice for an empty b).
func (BytesCodec) Decode(b []byte) ([]byte, error) { return append([]byte{}, b...), nil }

// JSONCodec stores a T as its encoding/json encoding: any T that
// encoding/json handles, as Python's Manager pickles anything. encoding/json
// writes map keys sorted and struct fields in order, so it is deterministic
// enough for keys of most types.
type JSONCodec[T any] struct{}

// Append appends the JSON encoding of x to dst.
func (JSONCodec[T]) Append(dst []byte, x T) ([]byte, error) {
	b, err := json.Marshal(x)
	return append(dst, b...), err
}

// Decode decodes the JSON in b.
func (JSONCodec[T]) Decode(b []byte) (T, error) {
	var x T
	err := json.Unmarshal(b, &x)
	return x, err
}

// FixedCodec stores a T of a fixed-size type without pointers (the types
// Value accepts) as its bytes in memory, with padding bytes zeroed so that
// equal keys have equal bytes. Append and Decode return an error wrapping
// ErrUnsupportedType for any other T. A Map whose key or value codec is a
// FixedCodec encodes that side without calling it, as NewMap's maps do.
type FixedCodec[T any] struct{}

// Append appends the bytes of x to dst.
func (FixedCodec[T]) Append(dst []byte, x T) ([]byte, error) {
	f, err := fixedOf[T]()
	if err != nil {
		return dst, err
	}
	n := len(dst)
	dst = append(dst, unsafe.Slice((*byte)(unsafe.Pointer(&x)), f.size)...)
	f.zeroPads(dst[n:])
	return dst, nil
}

// Decode returns the T whose bytes b holds; b must be exactly the size of
// T, or Decode returns an error wrapping shm.ErrCorrupt.
func (FixedCodec[T]) Decode(b []byte) (T, error) {
	var x T
	f, err := fixedOf[T]()
	if err != nil {
		return x, err
	}
	if len(b) != f.size {
		return x, fmt.Errorf("value: %w: %d bytes for a %d-byte %s", shm.ErrCorrupt, len(b), f.size, f.layout.Type)
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&x)), f.size), b)
	return x, nil
}

// fixedType describes a fixed-size type without pointers as a map stores
// it: its layout, and the byte ranges Go's == ignores (padding and blank
// fields), which are zeroed in what is stored.
type fixedType struct {
	layout *typelayout.Layout
	size   int
	pads   [][2]int // [from, to) byte ranges, sorted, not adjacent
}

var fixedTypes sync.Map // reflect.Type → *fixedType or error

// fixedOf returns the description of T, or an error wrapping
// ErrUnsupportedType.
func fixedOf[T any]() (*fixedType, error) {
	t := reflect.TypeFor[T]()
	if f, ok := fixedTypes.Load(t); ok {
		if err, bad := f.(error); bad {
			return nil, err
		}
		return f.(*fixedType), nil
	}
	l, err := typelayout.For(t)
	if err != nil {
		err = fmt.Errorf("value: %w", err)
		fixedTypes.Store(t, err)
		return nil, err
	}
	f := &fixedType{layout: l, size: int(l.Size)}
	used := make([]bool, f.size)
	markUsed(used, t, 0)
	for i := 0; i < f.size; i++ {
		if used[i] {
			continue
		}
		j := i
		for j < f.size && !used[j] {
			j++
		}
		f.pads = append(f.pads, [2]int{i, j})
		i = j
	}
	fixedTypes.Store(t, f)
	return f, nil
}

// markUsed marks the bytes of a t at off that Go's == compares.
func markUsed(used []bool, t reflect.Type, off int) {
	switch t.Kind() {
	case reflect.Array:
		es := int(t.Elem().Size())
		for i := 0; i < t.Len(); i++ {
			markUsed(used, t.Elem(), off+i*es)
		}
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.Name != "_" {
				markUsed(used, f.Type, off+int(f.Offset))
			}
		}
	default:
		for i := range t.Size() {
			used[off+int(i)] = true
		}
	}
}

// zeroPads zeroes the padding of the T whose bytes b holds.
func (f *fixedType) zeroPads(b []byte) {
	for _, p := range f.pads {
		clear(b[p[0]:p[1]])
	}
}

// bytes returns the bytes of the T at p as the map stores them: its own
// memory when T has no padding, or a copy in *buf with the padding zeroed.
func (f *fixedType) bytes(p unsafe.Pointer, buf *[]byte) []byte {
	b := unsafe.Slice((*byte)(p), f.size)
	if len(f.pads) == 0 {
		return b
	}
	*buf = append((*buf)[:0], b...)
	f.zeroPads(*buf)
	return *buf
}

package spawn

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"unsafe"

	"github.com/shmkit/shmkit/internal/typelayout"
)

// A Codec turns values of T into bytes and back, to carry a task's inputs
// and outputs between processes. Implementations must be safe for
// concurrent use.
type Codec[T any] interface {
	// Append appends the encoding of v to dst.
	Append(dst []byte, v T) ([]byte, error)
	// Decode decodes a value from src, which it must not keep.
	Decode(src []byte) (T, error)
}

// DefaultCodec returns the codec RegisterTask uses for T: the bytes
// themselves for []byte and string; BinaryCodec for fixed-size types
// without pointers (numbers, booleans, and arrays and structs of those);
// GobCodec for anything else.
func DefaultCodec[T any]() Codec[T] {
	var zero T
	switch any(zero).(type) {
	case []byte:
		return any(bytesCodec{}).(Codec[T])
	case string:
		return any(stringCodec{}).(Codec[T])
	}
	if _, err := typelayout.Of[T](); err == nil {
		return binaryCodec[T]{} // checked: no check per value
	}
	return GobCodec[T]{}
}

// binaryCodec is BinaryCodec for a T already checked.
type binaryCodec[T any] struct{}

func (binaryCodec[T]) Append(dst []byte, v T) ([]byte, error) {
	return append(dst, unsafe.Slice((*byte)(unsafe.Pointer(&v)), unsafe.Sizeof(v))...), nil
}

func (binaryCodec[T]) Decode(src []byte) (T, error) { return BinaryCodec[T]{}.Decode(src) }

type bytesCodec struct{}

func (bytesCodec) Append(dst, v []byte) ([]byte, error) { return append(dst, v...), nil }
func (bytesCodec) Decode(src []byte) ([]byte, error)    { return bytes.Clone(src), nil }

type stringCodec struct{}

func (stringCodec) Append(dst []byte, v string) ([]byte, error) { return append(dst, v...), nil }
func (stringCodec) Decode(src []byte) (string, error)           { return string(src), nil }

// BinaryCodec copies the bytes of a fixed-size T without pointers, in the
// machine's byte order: the fastest codec, for processes on one machine. T
// must pass the rules of value.New (no pointers, strings, slices, maps,
// interfaces, channels or functions at any depth); Append returns an error
// otherwise.
type BinaryCodec[T any] struct{}

// Append appends the bytes of v.
func (BinaryCodec[T]) Append(dst []byte, v T) ([]byte, error) {
	if _, err := typelayout.Of[T](); err != nil {
		return dst, fmt.Errorf("spawn: BinaryCodec: %w", err)
	}
	return append(dst, unsafe.Slice((*byte)(unsafe.Pointer(&v)), unsafe.Sizeof(v))...), nil
}

// Decode copies src, which must be exactly the size of T, into a T.
func (BinaryCodec[T]) Decode(src []byte) (T, error) {
	var v T
	if uintptr(len(src)) != unsafe.Sizeof(v) {
		return v, fmt.Errorf("spawn: BinaryCodec: %d bytes for a %d-byte %T", len(src), unsafe.Sizeof(v), v)
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&v)), unsafe.Sizeof(v)), src)
	return v, nil
}

// GobCodec encodes with encoding/gob: any type gob can carry (exported
// fields), at the cost of type information in every message.
type GobCodec[T any] struct{}

// Append appends the gob encoding of v.
func (GobCodec[T]) Append(dst []byte, v T) ([]byte, error) {
	b := bytes.NewBuffer(dst)
	err := gob.NewEncoder(b).Encode(&v)
	return b.Bytes(), err
}

// Decode decodes a gob encoding.
func (GobCodec[T]) Decode(src []byte) (T, error) {
	var v T
	err := gob.NewDecoder(bytes.NewReader(src)).Decode(&v)
	return v, err
}

// JSONCodec encodes with encoding/json, for values that other programs read
// too.
type JSONCodec[T any] struct{}

// Append appends the JSON encoding of v.
func (JSONCodec[T]) Append(dst []byte, v T) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(dst, b...), err
}

// Decode decodes JSON.
func (JSONCodec[T]) Decode(src []byte) (T, error) {
	var v T
	err := json.Unmarshal(src, &v)
	return v, err
}

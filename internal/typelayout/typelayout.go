// Package typelayout decides which Go types may live in shared memory and
// describes their layout, so that a typed object (value.Value[T],
// array.Array[T], and later typed queues and maps) can record what T it was
// created for and refuse to be opened as another.
//
// # Which types
//
// A type may live in shared memory when it holds no pointer at any depth:
// booleans, integers (uintptr included: it is a number to the garbage
// collector), floating-point and complex numbers, and arrays and structs of
// those, nested to any depth. Pointers, unsafe.Pointer, strings, slices,
// maps, interfaces, channels and functions are refused, wherever they hide:
// another process cannot follow a pointer into this one's heap, and this
// process's garbage collector cannot see a pointer stored in a mapping.
// Every such type has a fixed size, so "fixed-size" and "without pointers"
// are the same rule in Go.
//
// # Fingerprint
//
// A Layout's Desc is a canonical description of the type's structure,
// and its Fingerprint is the 64-bit FNV-1a hash of Desc. The grammar:
//
//	desc   = basic | "[" N "]" desc | "struct{" fields "}"
//	basic  = "bool" | "int" | "int8" | "int16" | "int32" | "int64"
//	       | "uint" | "uint8" | "uint16" | "uint32" | "uint64" | "uintptr"
//	       | "float32" | "float64" | "complex64" | "complex128"
//	fields = "" | field { ";" field }
//	field  = name "@" offset " " desc
//
// where N and offset are decimal, name is the field's name as declared
// (the type's name for an embedded field, "_" for a blank one). For example
//
//	struct {
//		ID    uint32
//		Ratio float64
//		Tags  [2]struct{ A, B int16 }
//	}
//
// is described as
//
//	struct{ID@0 uint32;Ratio@8 float64;Tags@16 [2]struct{A@0 int16;B@2 int16}}
//
// So the fingerprint covers kinds, array lengths, field names and field
// offsets (and with them all padding), at every depth. It leaves out:
//
//   - the names of defined types. type Celsius float64 and float64 match, and
//     so do two struct types with the same fields declared in two packages:
//     what must agree between processes is the bytes, and a program's
//     package path (main, a test package, a vendored copy) is not part of
//     them. Two processes that disagree on what a float64 means agree on
//     how to read it;
//   - struct tags, methods and whether names are exported.
//
// Field names are in: swapping two int64 fields keeps every size and
// offset, and would silently exchange their meanings. int and int64 are
// distinct kinds, as in Go, although both are 8 bytes on the supported
// machines. The size and the alignment of the whole type are not in the
// description; objects record them beside the fingerprint.
package typelayout

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// ErrType reports a type that cannot live in shared memory. The packages
// that take type parameters export it as their own ErrUnsupportedType.
var ErrType = errors.New("only fixed-size types without pointers can live in shared memory")

// TypeError names the type that was refused and where in it the offending
// part is. It wraps ErrType.
type TypeError struct {
	Type reflect.Type // the type asked for
	Path string       // where the offending part is: "Inner.Names", "[0].P"; "" for Type itself
	Bad  reflect.Type // the offending part's type
}

// Error reads, for example:
//
//	type main.Config: field Inner.Names is a []string: only fixed-size types without pointers can live in shared memory
func (e *TypeError) Error() string {
	var b strings.Builder
	b.WriteString("type ")
	b.WriteString(e.Type.String())
	switch {
	case e.Path == "":
		if defined(e.Bad) {
			b.WriteString(" (" + withArticle(kindWord(e.Bad.Kind())) + ")")
		}
	case e.Path[0] == '[':
		b.WriteString(": element " + e.Path + " is " + withArticle(badName(e.Bad)))
	default:
		b.WriteString(": field " + e.Path + " is " + withArticle(badName(e.Bad)))
	}
	b.WriteString(": ")
	b.WriteString(ErrType.Error())
	return b.String()
}

// Unwrap returns ErrType.
func (e *TypeError) Unwrap() error { return ErrType }

// badName names an offending type: its Go spelling, and for a defined type
// also its kind ("main.Names (a slice)").
func badName(t reflect.Type) string {
	if !defined(t) {
		return t.String()
	}
	return t.String() + " (" + withArticle(kindWord(t.Kind())) + ")"
}

// defined reports whether t is a type defined in a package, whose name does
// not say what kind of type it is (unsafe.Pointer does).
func defined(t reflect.Type) bool {
	return t.PkgPath() != "" && t.PkgPath() != "unsafe"
}

// withArticle prefixes s with "a" or "an".
func withArticle(s string) string {
	if s != "" && strings.IndexByte("aeiou", s[0]) >= 0 {
		return "an " + s
	}
	return "a " + s
}

func kindWord(k reflect.Kind) string {
	switch k {
	case reflect.Pointer:
		return "pointer"
	case reflect.UnsafePointer:
		return "unsafe.Pointer"
	case reflect.Chan:
		return "channel"
	}
	return k.String()
}

// Layout is what an object records about its type parameter.
type Layout struct {
	Type        reflect.Type
	Size        uint64 // unsafe.Sizeof
	Align       uint64 // unsafe.Alignof: 1, 2, 4 or 8
	Desc        string // canonical description (package documentation)
	Fingerprint uint64 // FNV-1a 64 of Desc
}

// Of returns the layout of T, or a *TypeError if T cannot live in shared
// memory.
func Of[T any]() (*Layout, error) {
	return For(reflect.TypeFor[T]())
}

// cache holds For's answers: a type's layout never changes.
var cache sync.Map // reflect.Type → forResult

type forResult struct {
	l   *Layout
	err error
}

// For returns the layout of t, or a *TypeError if t cannot live in shared
// memory. Answers are cached per type; the Layout returned must not be
// modified.
func For(t reflect.Type) (*Layout, error) {
	if r, ok := cache.Load(t); ok {
		r := r.(forResult)
		return r.l, r.err
	}
	l, err := compute(t)
	cache.Store(t, forResult{l, err})
	return l, err
}

func compute(t reflect.Type) (*Layout, error) {
	var b strings.Builder
	if path, bad := describe(&b, t, ""); bad != nil {
		return nil, &TypeError{Type: t, Path: path, Bad: bad}
	}
	d := b.String()
	return &Layout{
		Type:        t,
		Size:        uint64(t.Size()),
		Align:       uint64(t.Align()),
		Desc:        d,
		Fingerprint: Hash([]byte(d)),
	}, nil
}

// describe appends t's description to b. It returns the path to, and the
// type of, the first part of t that cannot live in shared memory, if any.
func describe(b *strings.Builder, t reflect.Type, path string) (string, reflect.Type) {
	switch k := t.Kind(); k {
	case reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		b.WriteString(k.String())
		return "", nil
	case reflect.Array:
		b.WriteByte('[')
		b.WriteString(strconv.Itoa(t.Len()))
		b.WriteByte(']')
		return describe(b, t.Elem(), path+"[0]")
	case reflect.Struct:
		b.WriteString("struct{")
		for i := range t.NumField() {
			f := t.Field(i)
			if i > 0 {
				b.WriteByte(';')
			}
			b.WriteString(f.Name)
			b.WriteByte('@')
			b.WriteString(strconv.FormatUint(uint64(f.Offset), 10))
			b.WriteByte(' ')
			fp := f.Name
			if path != "" {
				fp = path + "." + f.Name
			}
			if p, bad := describe(b, f.Type, fp); bad != nil {
				return p, bad
			}
		}
		b.WriteByte('}')
		return "", nil
	}
	// Pointer, UnsafePointer, String, Slice, Map, Interface, Chan, Func.
	return path, t
}

// FNV-1a 64 parameters.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// Hash returns the 64-bit FNV-1a hash of data: the fingerprint of a
// description, and the checksum of a Header.
func Hash(data []byte) uint64 {
	h := uint64(fnvOffset)
	for _, c := range data {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

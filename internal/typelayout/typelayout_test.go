package typelayout

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/shm"
)

type (
	Celsius float64
	Point   struct{ X, Y int32 }
	Pair    struct {
		A int64
		B int64
	}
	Swapped struct {
		B int64
		A int64
	}
	Renamed struct {
		A int64
		C int64
	}
	Nested struct {
		ID    uint32
		Ratio float64
		Tags  [2]struct{ A, B int16 }
	}
	Padded struct {
		A int8
		B int64
		C int8
	}
	Embeds struct {
		Point
		_ [4]byte
		Z bool
	}
	Names  []string
	Config struct {
		Port  uint16
		Inner struct {
			Count int
			Names []string
		}
	}
)

func TestAccepted(t *testing.T) {
	for _, tc := range []struct {
		typ   reflect.Type
		desc  string
		size  uint64
		align uint64
	}{
		{reflect.TypeFor[bool](), "bool", 1, 1},
		{reflect.TypeFor[int](), "int", 8, 8},
		{reflect.TypeFor[int8](), "int8", 1, 1},
		{reflect.TypeFor[uint16](), "uint16", 2, 2},
		{reflect.TypeFor[int32](), "int32", 4, 4},
		{reflect.TypeFor[uint64](), "uint64", 8, 8},
		{reflect.TypeFor[uintptr](), "uintptr", 8, 8},
		{reflect.TypeFor[float32](), "float32", 4, 4},
		{reflect.TypeFor[float64](), "float64", 8, 8},
		{reflect.TypeFor[complex64](), "complex64", 8, 4},
		{reflect.TypeFor[complex128](), "complex128", 16, 8},
		{reflect.TypeFor[byte](), "uint8", 1, 1},
		{reflect.TypeFor[rune](), "int32", 4, 4},
		{reflect.TypeFor[Celsius](), "float64", 8, 8},
		{reflect.TypeFor[[3]byte](), "[3]uint8", 3, 1},
		{reflect.TypeFor[[0]int64](), "[0]int64", 0, 8},
		{reflect.TypeFor[[2][3]float32](), "[2][3]float32", 24, 4},
		{reflect.TypeFor[struct{}](), "struct{}", 0, 1},
		{reflect.TypeFor[Point](), "struct{X@0 int32;Y@4 int32}", 8, 4},
		{reflect.TypeFor[Nested](), "struct{ID@0 uint32;Ratio@8 float64;Tags@16 [2]struct{A@0 int16;B@2 int16}}", 24, 8},
		{reflect.TypeFor[Padded](), "struct{A@0 int8;B@8 int64;C@16 int8}", 24, 8},
		{reflect.TypeFor[Embeds](), "struct{Point@0 struct{X@0 int32;Y@4 int32};_@8 [4]uint8;Z@12 bool}", 16, 4},
		{reflect.TypeFor[[2]Point](), "[2]struct{X@0 int32;Y@4 int32}", 16, 4},
	} {
		l, err := For(tc.typ)
		if err != nil {
			t.Errorf("For(%v) = %v", tc.typ, err)
			continue
		}
		if l.Desc != tc.desc || l.Size != tc.size || l.Align != tc.align {
			t.Errorf("For(%v) = %q size %d align %d, want %q size %d align %d", tc.typ, l.Desc, l.Size, l.Align, tc.desc, tc.size, tc.align)
		}
		if l.Fingerprint != Hash([]byte(tc.desc)) {
			t.Errorf("For(%v).Fingerprint = %#x, want the hash of its description", tc.typ, l.Fingerprint)
		}
		if l.Type != tc.typ {
			t.Errorf("For(%v).Type = %v", tc.typ, l.Type)
		}
	}
}

const tail = ": only fixed-size types without pointers can live in shared memory"

func TestRefused(t *testing.T) {
	type (
		withPtr struct {
			A int
			P *int
		}
		deep struct {
			A [2]struct {
				B struct{ C [1]map[int]int }
			}
		}
		withFunc    struct{ F func() }
		withChan    struct{ C chan int }
		withIface   struct{ E error }
		withAny     struct{ V any }
		withUnsafe  struct{ U unsafe.Pointer }
		withString  struct{ S string }
		withNamed   struct{ N Names }
		zeroArrOfPt struct{ Z [0]*int }
		second      struct {
			OK   int
			Bad  []byte
			Bad2 *int
		}
	)
	for _, tc := range []struct {
		typ  reflect.Type
		path string
		want string
	}{
		{reflect.TypeFor[*int](), "", "type *int" + tail},
		{reflect.TypeFor[string](), "", "type string" + tail},
		{reflect.TypeFor[[]int](), "", "type []int" + tail},
		{reflect.TypeFor[map[string]int](), "", "type map[string]int" + tail},
		{reflect.TypeFor[chan int](), "", "type chan int" + tail},
		{reflect.TypeFor[func()](), "", "type func()" + tail},
		{reflect.TypeFor[any](), "", "type interface {}" + tail},
		{reflect.TypeFor[error](), "", "type error" + tail},
		{reflect.TypeFor[unsafe.Pointer](), "", "type unsafe.Pointer" + tail},
		{reflect.TypeFor[Names](), "", "type typelayout.Names (a slice)" + tail},
		{reflect.TypeFor[Config](), "Inner.Names", "type typelayout.Config: field Inner.Names is a []string" + tail},
		{reflect.TypeFor[withPtr](), "P", "type typelayout.withPtr: field P is a *int" + tail},
		{reflect.TypeFor[deep](), "A[0].B.C[0]", "type typelayout.deep: field A[0].B.C[0] is a map[int]int" + tail},
		{reflect.TypeFor[withFunc](), "F", "field F is a func()" + tail},
		{reflect.TypeFor[withChan](), "C", "field C is a chan int" + tail},
		{reflect.TypeFor[withIface](), "E", "field E is an error" + tail},
		{reflect.TypeFor[withAny](), "V", "field V is an interface {}" + tail},
		{reflect.TypeFor[withUnsafe](), "U", "field U is an unsafe.Pointer" + tail},
		{reflect.TypeFor[withString](), "S", "field S is a string" + tail},
		{reflect.TypeFor[withNamed](), "N", "field N is a typelayout.Names (a slice)" + tail},
		{reflect.TypeFor[zeroArrOfPt](), "Z[0]", "field Z[0] is a *int" + tail},
		{reflect.TypeFor[second](), "Bad", "field Bad is a []uint8" + tail},
		{reflect.TypeFor[[4]*int](), "[0]", "type [4]*int: element [0] is a *int" + tail},
		{reflect.TypeFor[[2][]Point](), "[0]", "type [2][]typelayout.Point: element [0] is a []typelayout.Point" + tail},
	} {
		l, err := For(tc.typ)
		if err == nil {
			t.Errorf("For(%v) = %q, want an error", tc.typ, l.Desc)
			continue
		}
		if !errors.Is(err, ErrType) {
			t.Errorf("For(%v) = %v, not ErrType", tc.typ, err)
		}
		var te *TypeError
		if !errors.As(err, &te) || te.Path != tc.path || te.Type != tc.typ {
			t.Errorf("For(%v) = %#v, want a *TypeError at path %q", tc.typ, err, tc.path)
		}
		if !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("For(%v) error\n%s\nwant it to end with\n%s", tc.typ, err, tc.want)
		}
	}
}

func TestOf(t *testing.T) {
	l, err := Of[Pair]()
	if err != nil || l.Desc != "struct{A@0 int64;B@8 int64}" {
		t.Fatalf("Of[Pair] = %v, %v", l, err)
	}
	if _, err := Of[Config](); err == nil || err.Error() != "type typelayout.Config: field Inner.Names is a []string"+tail {
		t.Fatalf("Of[Config] = %v", err)
	}
}

// TestFingerprint checks what the fingerprint tells apart and what it
// deliberately does not.
func TestFingerprint(t *testing.T) {
	fp := func(typ reflect.Type) uint64 {
		l, err := For(typ)
		if err != nil {
			t.Fatal(err)
		}
		return l.Fingerprint
	}
	type localPair struct {
		A int64 `json:"a"`
		B int64
	}
	same := []struct {
		why  string
		a, b reflect.Type
	}{
		{"a defined type and its underlying type", reflect.TypeFor[Celsius](), reflect.TypeFor[float64]()},
		{"the same struct declared twice, with tags", reflect.TypeFor[Pair](), reflect.TypeFor[localPair]()},
		{"an unnamed struct of the same fields", reflect.TypeFor[Pair](), reflect.TypeFor[struct{ A, B int64 }]()},
		{"byte and uint8", reflect.TypeFor[[4]byte](), reflect.TypeFor[[4]uint8]()},
	}
	for _, c := range same {
		if fp(c.a) != fp(c.b) {
			t.Errorf("%s: %v and %v have different fingerprints", c.why, c.a, c.b)
		}
	}
	differ := []struct {
		why  string
		a, b reflect.Type
	}{
		{"swapped fields", reflect.TypeFor[Pair](), reflect.TypeFor[Swapped]()},
		{"a renamed field", reflect.TypeFor[Pair](), reflect.TypeFor[Renamed]()},
		{"int and int64", reflect.TypeFor[int](), reflect.TypeFor[int64]()},
		{"int64 and float64", reflect.TypeFor[int64](), reflect.TypeFor[float64]()},
		{"uint64 and [8]byte", reflect.TypeFor[uint64](), reflect.TypeFor[[8]byte]()},
		{"array lengths", reflect.TypeFor[[2][3]int8](), reflect.TypeFor[[3][2]int8]()},
		{"a struct and its field", reflect.TypeFor[struct{ X int64 }](), reflect.TypeFor[int64]()},
		{"nested field types", reflect.TypeFor[struct{ P struct{ A, B int32 } }](), reflect.TypeFor[struct{ P struct{ A, B float32 } }]()},
		{"padding moved", reflect.TypeFor[struct {
			A int8
			B int16
		}](), reflect.TypeFor[struct {
			A int8
			_ int8
			B int16
		}]()},
	}
	for _, c := range differ {
		if fp(c.a) == fp(c.b) {
			t.Errorf("%s: %v and %v have the same fingerprint", c.why, c.a, c.b)
		}
	}
}

// TestHash pins FNV-1a 64 to its published test vectors, so a program in
// another language computes the same fingerprints.
func TestHash(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
	}{
		{"", 0xcbf29ce484222325},
		{"a", 0xaf63dc4c8601ec8c},
		{"foobar", 0x85944171f73967e8},
	} {
		if got := Hash([]byte(c.in)); got != c.want {
			t.Errorf("Hash(%q) = %#x, want %#x", c.in, got, c.want)
		}
	}
}

func TestHeaderLayout(t *testing.T) {
	for _, c := range []struct {
		field string
		off   uintptr
	}{
		{"Form", OffForm}, {"Align", OffAlign}, {"Size", OffSize}, {"Count", OffCount},
		{"Fingerprint", OffFingerprint}, {"Check", OffCheck},
	} {
		if got := layout.Offset(header{}, c.field); got != c.off {
			t.Errorf("header.%s at %d, constant says %d", c.field, got, c.off)
		}
	}
	if s := unsafe.Sizeof(header{}); s != HeaderSize || HeaderSize != layout.CacheLine {
		t.Errorf("header is %d bytes, HeaderSize %d", s, HeaderSize)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	l, err := Of[Nested]()
	if err != nil {
		t.Fatal(err)
	}
	mem := make([]byte, 128)
	for i := range mem {
		mem[i] = 0xAA // Put must clear what it does not set
	}
	want := l.Header(7, 1000)
	Put(mem, want)
	got, f := Read(mem)
	if f != nil {
		t.Fatal(f.Err)
	}
	want.Check = got.Check
	if got != want {
		t.Fatalf("Read = %+v, want %+v", got, want)
	}
	if f := got.CheckType(); f != nil {
		t.Fatal(f.Err)
	}
	if f := CheckSum(mem, got); f != nil {
		t.Fatal(f.Err)
	}
	if err := l.Match(got); err != nil {
		t.Fatal(err)
	}
	for _, b := range mem[OffFingerprint+8 : OffCheck] {
		if b != 0 {
			t.Fatal("reserved header bytes are not zero")
		}
	}
	if mem[HeaderSize] != 0xAA {
		t.Fatal("Put wrote past the header")
	}
	// Every single-bit change to the header is caught by the checksum or,
	// for the checksum itself, by the mismatch.
	for i := 0; i < HeaderSize*8; i++ {
		bad := append([]byte(nil), mem...)
		bad[i/8] ^= 1 << (i % 8)
		h, _ := Read(bad)
		if f := CheckSum(bad, h); f == nil || f.Field != "check" || !errors.Is(f.Err, shm.ErrCorrupt) {
			t.Fatalf("flipping bit %d of the header: CheckSum = %v", i, f)
		}
	}
	if _, f := Read(mem[:HeaderSize-1]); f == nil || !errors.Is(f.Err, shm.ErrCorrupt) {
		t.Fatalf("Read of a short object = %v", f)
	}
}

func TestCheckType(t *testing.T) {
	for _, c := range []struct {
		align uint32
		size  uint64
		field string
	}{
		{1, 3, ""}, {2, 6, ""}, {4, 12, ""}, {8, 0, ""}, {8, 1 << 40, ""},
		{0, 8, "align"}, {3, 9, "align"}, {16, 16, "align"}, {1 << 31, 0, "align"},
		{4, 6, "size"}, {8, 12, "size"},
	} {
		f := Header{Align: c.align, Size: c.size}.CheckType()
		switch {
		case c.field == "" && f != nil:
			t.Errorf("align %d size %d: %v", c.align, c.size, f.Err)
		case c.field != "" && (f == nil || f.Field != c.field || !errors.Is(f.Err, shm.ErrCorrupt)):
			t.Errorf("align %d size %d: fault %+v, want one in field %s", c.align, c.size, f, c.field)
		}
	}
}

func TestMatch(t *testing.T) {
	pair, _ := Of[Pair]()
	for _, c := range []struct {
		other reflect.Type
		want  string
	}{
		{reflect.TypeFor[Pair](), ""},
		{reflect.TypeFor[struct{ A, B int64 }](), ""},
		{reflect.TypeFor[Nested](), "object of another kind: created for a 16-byte type; typelayout.Nested is 24 bytes"},
		{reflect.TypeFor[[4]int32](), "object of another kind: created for a type with alignment 8; [4]int32 has alignment 4"},
		{reflect.TypeFor[Swapped](), "object of another kind: created for another 16-byte type (fingerprint "},
		{reflect.TypeFor[[2]float64](), "the field names, kinds or offsets of [2]float64 differ"},
	} {
		l, err := For(c.other)
		if err != nil {
			t.Fatal(err)
		}
		err = l.Match(pair.Header(1, 1))
		if c.want == "" {
			if err != nil {
				t.Errorf("%v: %v", c.other, err)
			}
			continue
		}
		if !errors.Is(err, shm.ErrWrongKind) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: Match = %v, want ErrWrongKind containing %q", c.other, err, c.want)
		}
	}
}

// TestCheckOrder: Check reports the first fault in the order form, type
// fields, bounds, checksum, whatever else is also wrong.
func TestCheckOrder(t *testing.T) {
	l, err := Of[Pair]()
	if err != nil {
		t.Fatal(err)
	}
	valid := make([]byte, HeaderSize)
	Put(valid, l.Header(7, 3))
	known := func(form uint32) bool { return form == 7 }
	bounds := func(h Header, size int) *Fault {
		if h.Count*h.Size > uint64(size) {
			return Faultf("count", OffCount, "too many")
		}
		return nil
	}
	for _, c := range []struct {
		name   string
		mutate func(b []byte)
		field  string
	}{
		{"valid", func([]byte) {}, ""},
		{"form and the rest", func(b []byte) {
			ne.PutUint32(b[OffForm:], 8)
			ne.PutUint32(b[OffAlign:], 3)
			ne.PutUint64(b[OffCount:], 1000)
		}, "form"},
		{"align and the rest", func(b []byte) {
			ne.PutUint32(b[OffAlign:], 3)
			ne.PutUint64(b[OffCount:], 1000)
		}, "align"},
		{"bounds and checksum", func(b []byte) { ne.PutUint64(b[OffCount:], 1000) }, "count"},
		{"checksum only", func(b []byte) { ne.PutUint64(b[OffCount:], 2) }, "check"},
		{"short", nil, ""},
	} {
		b := append([]byte(nil), valid...)
		if c.mutate == nil {
			b = b[:HeaderSize-8]
		} else {
			c.mutate(b)
		}
		_, f := Check(b, known, bounds)
		switch {
		case c.name == "valid" && f != nil:
			t.Errorf("%s: %v", c.name, f.Err)
		case c.name != "valid" && (f == nil || f.Field != c.field || !errors.Is(f.Err, shm.ErrCorrupt)):
			t.Errorf("%s: fault %+v, want one in field %q", c.name, f, c.field)
		}
	}
}

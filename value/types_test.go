//go:build linux

package value_test

import (
	"errors"
	"strings"
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/value"
)

type (
	Config struct {
		Port  uint16
		Inner struct {
			Count int
			Names []string
		}
	}
	withPtr    struct{ P *int }
	withString struct {
		ID   int
		Name string
	}
	withMap    struct{ M map[string]int }
	withIface  struct{ E error }
	withChan   struct{ C chan int }
	withFunc   struct{ F func() }
	withUnsafe struct{ U unsafe.Pointer }
	deep       struct {
		Rows [4]struct {
			Cells [2]struct{ Label []byte }
		}
	}
)

const refusal = ": only fixed-size types without pointers can live in shared memory"

// TestRefusedTypes: New and Open refuse every pointerish type, wherever it
// hides, and name it.
func TestRefusedTypes(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	for _, c := range []struct {
		new  func(*shm.Segment) error
		open func(*shm.Segment) error
		want string
	}{
		{refuse[Config], refuseOpen[Config], "value: type value_test.Config: field Inner.Names is a []string" + refusal},
		{refuse[withPtr], refuseOpen[withPtr], "value: type value_test.withPtr: field P is a *int" + refusal},
		{refuse[withString], refuseOpen[withString], "value: type value_test.withString: field Name is a string" + refusal},
		{refuse[withMap], refuseOpen[withMap], "value: type value_test.withMap: field M is a map[string]int" + refusal},
		{refuse[withIface], refuseOpen[withIface], "value: type value_test.withIface: field E is an error" + refusal},
		{refuse[withChan], refuseOpen[withChan], "value: type value_test.withChan: field C is a chan int" + refusal},
		{refuse[withFunc], refuseOpen[withFunc], "value: type value_test.withFunc: field F is a func()" + refusal},
		{refuse[withUnsafe], refuseOpen[withUnsafe], "value: type value_test.withUnsafe: field U is an unsafe.Pointer" + refusal},
		{refuse[deep], refuseOpen[deep], "value: type value_test.deep: field Rows[0].Cells[0].Label is a []uint8" + refusal},
		{refuse[[2]*int], refuseOpen[[2]*int], "value: type [2]*int: element [0] is a *int" + refusal},
		{refuse[string], refuseOpen[string], "value: type string" + refusal},
		{refuse[[]float64], refuseOpen[[]float64], "value: type []float64" + refusal},
		{refuse[any], refuseOpen[any], "value: type interface {}" + refusal},
	} {
		for _, err := range []error{c.new(seg), c.open(seg)} {
			if !errors.Is(err, value.ErrUnsupportedType) || err.Error() != c.want {
				t.Errorf("got  %v\nwant %s", err, c.want)
			}
		}
	}
	if objs := seg.Objects(); len(objs) != 0 {
		t.Errorf("refused types left objects behind: %v", objs)
	}
}

func refuse[T any](seg *shm.Segment) error {
	_, err := value.New[T](seg, "v")
	return err
}

func refuseOpen[T any](seg *shm.Segment) error {
	_, err := value.Open[T](seg, "v")
	return err
}

type (
	point  struct{ X, Y int64 }
	vector struct{ X, Y int64 } // same layout as point, another name
	swap   struct{ Y, X int64 } // same size and kinds, fields swapped
	fpoint struct{ X, Y float64 }
	point3 struct{ X, Y, Z int64 }
	narrow struct{ X, Y, Z, W int32 }
)

// TestOpenOtherType: Open[T] accepts the same layout under another name and
// refuses every other, saying what differs.
func TestOpenOtherType(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	p, err := value.New[point](seg, "p")
	if err != nil {
		t.Fatal(err)
	}
	p.Store(point{3, 4})
	v, err := value.Open[vector](seg, "p")
	if err != nil {
		t.Fatalf("Open[vector] of a Value[point] = %v: the same layout must match", err)
	}
	if got := v.Load(); got != (vector{3, 4}) {
		t.Fatalf("Load through Open[vector] = %v", got)
	}
	for _, c := range []struct {
		open func() error
		want string
	}{
		{func() error { _, err := value.Open[point3](seg, "p"); return err }, "created for a 16-byte type; value_test.point3 is 24 bytes"},
		{func() error { _, err := value.Open[int64](seg, "p"); return err }, "created for a 16-byte type; int64 is 8 bytes"},
		{func() error { _, err := value.Open[narrow](seg, "p"); return err }, "created for a type with alignment 8; value_test.narrow has alignment 4"},
		{func() error { _, err := value.Open[swap](seg, "p"); return err }, "created for another 16-byte type (fingerprint 0x"},
		{func() error { _, err := value.Open[fpoint](seg, "p"); return err }, "the field names, kinds or offsets of value_test.fpoint differ"},
		{func() error { _, err := value.Open[[2]int64](seg, "p"); return err }, "the field names, kinds or offsets of [2]int64 differ"},
	} {
		err := c.open()
		var se *shm.Error
		if !errors.Is(err, shm.ErrWrongKind) || !errors.As(err, &se) || se.Object != "p" || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got  %v\nwant ErrWrongKind in a *shm.Error for \"p\" saying %q", err, c.want)
		}
	}
	if _, err := shm.NewBytes(seg, "bytes", 64); err != nil {
		t.Fatal(err)
	}
	if _, err := value.Open[point](seg, "bytes"); !errors.Is(err, shm.ErrWrongKind) {
		t.Errorf("Open of a bytes object = %v, want ErrWrongKind", err)
	}
	if _, err := value.Open[point](seg, "none"); !errors.Is(err, shm.ErrNotExist) {
		t.Errorf("Open of a missing name = %v, want ErrNotExist", err)
	}
	if _, err := value.New[point](seg, "p"); !errors.Is(err, shm.ErrExist) {
		t.Errorf("New of a taken name = %v, want ErrExist", err)
	}
}

package array

import (
	"math"
	"testing"

	"github.com/shmkit/shmkit/internal/layout"
)

// TestLayoutOffsets keeps the offset constants in agreement with the struct
// that documents them.
func TestLayoutOffsets(t *testing.T) {
	if got := layout.Offset(object{}, "Lock"); got != offLock {
		t.Errorf("object.Lock at %d, constant says %d", got, offLock)
	}
	if got := layout.Offset(object{}, "Data"); got != offData {
		t.Errorf("object.Data at %d, constant says %d", got, offData)
	}
	if offLock%layout.CacheLine != 0 || offData%layout.CacheLine != 0 {
		t.Error("the lock word and the elements must each start a cache line")
	}
}

func TestObjectSize(t *testing.T) {
	for _, c := range []struct {
		size, count uint64
		want        int
		ok          bool
	}{
		{8, 0, 128, true}, {0, 1 << 62, 128, true}, {8, 10, 208, true}, {3, 5, 143, true},
		{8, 1 << 61, 0, false}, {1 << 32, 1 << 32, 0, false}, {1, math.MaxInt64 - 128, math.MaxInt64, true},
		{1, math.MaxInt64 - 127, 0, false}, {math.MaxUint64, 2, 0, false},
	} {
		got, ok := objectSize(offData, c.size, c.count)
		if got != c.want || ok != c.ok {
			t.Errorf("objectSize(offData, %d, %d) = %d, %v; want %d, %v", c.size, c.count, got, ok, c.want, c.ok)
		}
	}
}

// TestListLayoutOffsets keeps the list's offset constants in agreement
// with the struct that documents them.
func TestListLayoutOffsets(t *testing.T) {
	for _, c := range []struct {
		field string
		off   uintptr
	}{
		{"Lock", offListLock}, {"Len", offListLen}, {"Data", offListData},
	} {
		if got := layout.Offset(listObject{}, c.field); got != c.off {
			t.Errorf("listObject.%s at %d, constant says %d", c.field, got, c.off)
		}
	}
	if offListLock%layout.CacheLine != 0 || offListLen%layout.CacheLine != 0 || offListData%layout.CacheLine != 0 {
		t.Error("the lock word, the length and the elements must each start a cache line")
	}
	if n, ok := objectSize(offListData, 8, 3); !ok || n != offListData+24 {
		t.Errorf("objectSize(offListData, 8, 3) = %d, %v", n, ok)
	}
	if _, ok := objectSize(offListData, 1<<32, 1<<32); ok {
		t.Error("objectSize(offListData, ...) overflow not caught")
	}
}

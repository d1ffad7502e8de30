package value

import (
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/internal/layout"
)

// TestLayoutOffsets keeps the offset constants in agreement with the struct
// that documents them, and the lock apart from the data.
func TestLayoutOffsets(t *testing.T) {
	for _, c := range []struct {
		field string
		off   uintptr
	}{
		{"Lock", offLock}, {"Seq", offSeq}, {"Data", offData},
	} {
		if got := layout.Offset(object{}, c.field); got != c.off {
			t.Errorf("object.%s at %d, constant says %d", c.field, got, c.off)
		}
	}
	if s := unsafe.Sizeof(object{}); s != offData+8 {
		t.Errorf("object is %d bytes, want %d", s, offData+8)
	}
	if offLock%layout.CacheLine != 0 || offSeq%layout.CacheLine != 0 {
		t.Errorf("the lock word and the sequence must each start a cache line")
	}
	if offData%8 != 0 {
		t.Errorf("data at %d is not 8-byte aligned", offData)
	}
}

func TestObjectSize(t *testing.T) {
	for _, c := range []struct {
		size uint64
		want int
		mode int
	}{
		{0, 144, modeWord32}, {1, 144, modeWord32}, {4, 144, modeWord32},
		{5, 144, modeWord64}, {8, 144, modeWord64},
		{9, 136 + 32, modeSeq}, {16, 136 + 32, modeSeq}, {28, 136 + 64, modeSeq}, {32, 136 + 64, modeSeq},
	} {
		got, ok := objectSize(c.size)
		if !ok || got != c.want || modeFor(c.size) != c.mode {
			t.Errorf("objectSize(%d) = %d, %v, mode %d; want %d, mode %d", c.size, got, ok, modeFor(c.size), c.want, c.mode)
		}
	}
	for _, size := range []uint64{1 << 63, 1<<64 - 1, 1<<64 - 8} {
		if n, ok := objectSize(size); ok {
			t.Errorf("objectSize(%d) = %d, want overflow", size, n)
		}
	}
}

package semaphore

import (
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/internal/holders"
	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/shm"
)

// TestLayoutOffsets keeps the offset constants in agreement with the struct
// that documents them: a layout change that forgets one fails here, and
// shm.Version must be bumped with it.
func TestLayoutOffsets(t *testing.T) {
	for _, c := range []struct {
		field string
		off   uintptr
	}{
		{"Value", offValue}, {"Waiters", offWaiters}, {"Flags", offFlags}, {"Initial", offInitial},
		{"Overflow", offOverflow}, {"Holders", offHolders},
	} {
		if got := layout.Offset(semLayout{}, c.field); got != c.off {
			t.Errorf("semLayout.%s at %d, constant says %d", c.field, got, c.off)
		}
	}
	if s := unsafe.Sizeof(semLayout{}); s != sizeBounded {
		t.Errorf("semLayout is %d bytes, sizeBounded %d", s, sizeBounded)
	}
	if offHolders != sizeCounting || sizeCounting != layout.CacheLine || sizeBounded != sizeCounting+holders.Size {
		t.Errorf("a counting semaphore is not the first cache line of a bounded one")
	}
	if shm.Version != 3 {
		t.Errorf("layout version %d: update docs/layout.md and this test with the layout", shm.Version)
	}
}

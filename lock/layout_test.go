package lock

import (
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/internal/holders"
	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/shm"
)

// TestLayoutOffsets keeps the offset constants in agreement with the structs
// that document them: a layout change that forgets one fails here, and
// shm.Version must be bumped with it.
func TestLayoutOffsets(t *testing.T) {
	type field struct {
		name string
		off  uintptr
	}
	check := func(v any, fields []field) {
		t.Helper()
		for _, f := range fields {
			if got := layout.Offset(v, f.name); got != f.off {
				t.Errorf("%T.%s at %d, constant says %d", v, f.name, got, f.off)
			}
		}
	}
	check(rwLayout{}, []field{
		{"Writer", rwWriter}, {"State", rwState}, {"Gate", rwGate}, {"Waiting", rwWaiting},
		{"Drain", rwDrain}, {"Full", rwFull}, {"Readers", rwReaders},
	})
	if s := unsafe.Sizeof(rwLayout{}); s != RWMutexSize {
		t.Errorf("rwLayout is %d bytes, RWMutexSize %d", s, RWMutexSize)
	}
	if rwSleepers != rwDrain || rwFull != rwDrain+4 || rwSleepers%8 != 0 {
		t.Errorf("Drain and Full are not one aligned 64-bit word")
	}
	if rwReaders%layout.CacheLine != 0 || RWMutexSize != rwReaders+holders.Size {
		t.Errorf("the reader table does not start a cache line or does not end the object")
	}
	check(condLayout{}, []field{{"Seq", condSeq}, {"Waiters", condWaiters}})
	if s := unsafe.Sizeof(condLayout{}); s != condSize {
		t.Errorf("condLayout is %d bytes, condSize %d", s, condSize)
	}
	if mutexSize != layout.CacheLine {
		t.Errorf("mutexSize %d", mutexSize)
	}
	if shm.Version != 3 {
		t.Errorf("layout version %d: update docs/layout.md and this test with the layout", shm.Version)
	}
}

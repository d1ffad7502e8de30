package holders

import (
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/proc"
)

func newTable(t *testing.T) (*Table, []byte) {
	t.Helper()
	buf := make([]uint64, Size/8) // 8-byte aligned
	mem := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), Size)
	tag := SelfTag()
	if tag == 0 {
		t.Skip("pid does not fit in a slot")
	}
	return New(mem, tag), mem
}

func TestPack(t *testing.T) {
	id := proc.Make(4194303, 0xdeadbeef)
	w := Pack(id, 1023)
	if Owner(w) != id || Low(w) != 1023 || Tag(w) != Pack(id, 0) {
		t.Fatalf("Pack(%#x, 1023) = %#x: owner %#x low %d", uint64(id), w, uint64(Owner(w)), Low(w))
	}
	if Pack(proc.Make(1<<22, 1), 0) != 0 || Pack(0, 1) != 0 {
		t.Fatal("Pack accepted a pid that does not fit")
	}
	seen := map[int]bool{}
	for i := 0; i < Slots; i++ {
		off := Offset(i)
		if off%8 != 0 || off+8 > Size || seen[off] {
			t.Fatalf("slot %d at %d", i, off)
		}
		seen[off] = true
		if (off/layout.CacheLine)%Lines != i%Lines {
			t.Fatalf("slot %d is not on line %d", i, i%Lines)
		}
	}
}

func TestIncDec(t *testing.T) {
	tab, _ := newTable(t)
	self := tab.Self()
	i, claimed := tab.Inc()
	if i != tab.Start() || !claimed {
		t.Fatalf("first Inc = %d, %v; want %d, true", i, claimed, tab.Start())
	}
	// Fill the first slot, then one more goes to a second slot.
	for n := 1; n < MaxLow; n++ {
		if j, _ := tab.Inc(); j != i {
			t.Fatalf("Inc %d went to slot %d", n, j)
		}
	}
	j, claimed := tab.Inc()
	if j == i || j < 0 || !claimed {
		t.Fatalf("Inc beyond %d holds = %d, %v", MaxLow, j, claimed)
	}
	if v := atomic.LoadUint64(tab.Slot(i)); v != self|MaxLow {
		t.Fatalf("slot %d = %#x", i, v)
	}
	for n := 0; n < MaxLow+1; n++ {
		if ok, _ := tab.Dec(); !ok {
			t.Fatalf("Dec %d found no hold", n)
		}
	}
	if ok, _ := tab.Dec(); ok {
		t.Fatal("Dec with no hold succeeded")
	}
	if !tab.Empty() {
		t.Fatal("table not empty after every hold was taken back")
	}
}

func TestFullAndReap(t *testing.T) {
	tab, _ := newTable(t)
	dead := Pack(proc.Make(proc.Self().Pid(), uint64(proc.Self().Start())+1), 0) // our pid, another start time: dead
	for i := 0; i < Slots; i++ {
		atomic.StoreUint64(tab.Slot(i), dead|3)
	}
	if i, _ := tab.Inc(); i != -1 {
		t.Fatalf("Inc on a full table = %d", i)
	}
	if !tab.DecAny() {
		t.Fatal("DecAny found nothing to take")
	}
	count, slots := tab.Reap()
	if count != 3*Slots-1 || slots != Slots {
		t.Fatalf("Reap = %d, %d; want %d, %d", count, slots, 3*Slots-1, Slots)
	}
	if !tab.Empty() {
		t.Fatal("table not empty after Reap")
	}
	if i, _ := tab.Inc(); i < 0 {
		t.Fatal("Inc failed after Reap")
	}
	if count, _ := tab.Reap(); count != 0 {
		t.Fatalf("Reap took this process's own hold: %d", count)
	}
}

package shm

import (
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/internal/layout"
)

// TestLayoutOffsets keeps the offset constants in agreement with the structs
// that document them: a layout change that forgets one fails here, and the
// Version constant must be bumped with it.
func TestLayoutOffsets(t *testing.T) {
	for _, c := range []struct {
		field string
		off   uintptr
	}{
		{"Magic", offMagic}, {"Version", offVersion}, {"HeaderSize", offHeaderSize}, {"Size", offSize},
		{"DirOffset", offDirOffset}, {"DirCap", offDirCap}, {"HeapOffset", offHeapOffset},
		{"Created", offCreated}, {"Creator", offCreator}, {"AllocLock", offAllocLock},
		{"HeapNext", offHeapNext}, {"DirUsed", offDirUsed},
	} {
		if got := layout.Offset(header{}, c.field); got != c.off {
			t.Errorf("header.%s at %d, constant says %d", c.field, got, c.off)
		}
	}
	if s := unsafe.Sizeof(header{}); s != HeaderSize {
		t.Errorf("header is %d bytes, HeaderSize %d", s, HeaderSize)
	}
	for _, c := range []struct {
		field string
		off   uintptr
	}{
		{"State", entState}, {"Kind", entKind}, {"Offset", entOffset}, {"Size", entSize},
		{"Creator", entCreator}, {"Name", entName},
	} {
		if got := layout.Offset(entry{}, c.field); got != c.off {
			t.Errorf("entry.%s at %d, constant says %d", c.field, got, c.off)
		}
	}
	if s := unsafe.Sizeof(entry{}); s != EntrySize {
		t.Errorf("entry is %d bytes, EntrySize %d", s, EntrySize)
	}
	if offAllocLock%layout.CacheLine != 0 {
		t.Errorf("the allocation lock does not start a cache line")
	}
	if Version != 3 {
		t.Errorf("layout version %d: update docs/layout.md and this test with the layout", Version)
	}
}

package ring

import (
	"reflect"
	"testing"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/shm"
)

// TestLayoutOffsets keeps the offset constants in agreement with the structs
// that document them (and docs/layout.md): a layout change that forgets one
// fails here.
func TestLayoutOffsets(t *testing.T) {
	for _, c := range []struct {
		v     any
		field string
		off   uintptr
	}{
		{spscHeader{}, "Magic", offSMagic}, {spscHeader{}, "Capacity", offSCapacity},
		{spscHeader{}, "Closed", offSClosed}, {spscHeader{}, "Producer", offSProducer},
		{spscHeader{}, "Consumer", offSConsumer}, {spscHeader{}, "Tail", offSTail},
		{spscHeader{}, "Sent", offSSent}, {spscHeader{}, "Head", offSHead},
		{spscHeader{}, "Received", offSReceived}, {spscHeader{}, "DataSeq", offSDataSeq},
		{spscHeader{}, "DataWait", offSDataWait}, {spscHeader{}, "SpaceSeq", offSSpaceSeq},
		{spscHeader{}, "SpaceWait", offSSpaceWait},
		{queueHeader{}, "Magic", offQMagic}, {queueHeader{}, "Slots", offQSlots},
		{queueHeader{}, "SlotSize", offQSlotSize}, {queueHeader{}, "Stride", offQStride},
		{queueHeader{}, "Closed", offQClosed}, {queueHeader{}, "EnqueuePos", offQEnqueuePos},
		{queueHeader{}, "DequeuePos", offQDequeuePos}, {queueHeader{}, "NotEmptySeq", offQNotEmptySeq},
		{queueHeader{}, "NotEmptyWait", offQNotEmptyWait}, {queueHeader{}, "NotFullSeq", offQNotFullSeq},
		{queueHeader{}, "NotFullWait", offQNotFullWait}, {queueHeader{}, "Lost", offQLost},
		{slotHeader{}, "State", offSlotState}, {slotHeader{}, "Detail", offSlotDetail},
		{slotHeader{}, "Len", offSlotLen},
		{pipeHeader{}, "Magic", offPMagic}, {pipeHeader{}, "Capacity", offPCapacity},
		{pipeHeader{}, "End0", offPEnd0}, {pipeHeader{}, "End1", offPEnd1},
	} {
		if got := layout.Offset(c.v, c.field); got != c.off {
			t.Errorf("%T.%s at %d, constant says %d", c.v, c.field, got, c.off)
		}
	}
	for _, c := range []struct {
		v    any
		size uintptr
	}{
		{spscHeader{}, spscHeaderSize}, {queueHeader{}, queueHeaderSize},
		{slotHeader{}, slotHeaderLen}, {pipeHeader{}, pipeHeaderSize},
	} {
		if s := reflect.TypeOf(c.v).Size(); s != c.size {
			t.Errorf("%T is %d bytes, constant says %d", c.v, s, c.size)
		}
	}
	// The record header's fields (docs/layout.md, "Record header").
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"committed", recCommitted, 1 << 32},
		{"skip", recSkip, 1 << 33},
		{"pad", recPadMask, 7 << 34},
		{"lap", 0xFFFF << recLapShift, 0xFFFF << 48},
		{"known", recKnown, 0xFFFF<<48 | 0x1F<<32 | 0xFFFFFFFF},
	} {
		if c.got != c.want {
			t.Errorf("record header %s bits %#x, layout says %#x", c.name, c.got, c.want)
		}
	}
	// Where a Queue slot's message starts (docs/layout.md, "Queue").
	if slotPayload(AlignFrom-1) != 24 || slotPayload(AlignFrom) != 64 || AlignFrom != 1<<20 {
		t.Errorf("Queue message offsets %d below 2^20-byte slots and %d from there (AlignFrom %d), layout says 24 and 64",
			slotPayload(AlignFrom-1), slotPayload(AlignFrom), AlignFrom)
	}
	if shm.Version != 3 {
		t.Errorf("layout version %d: update docs/layout.md and this test with the layout", shm.Version)
	}
	// Independently written words on their own cache lines.
	for _, off := range []int{offSTail, offSHead, offSDataSeq, offSSpaceSeq, offQEnqueuePos, offQDequeuePos, offQNotEmptySeq, offQNotFullSeq} {
		if off%layout.CacheLine != 0 {
			t.Errorf("offset %d does not start a cache line", off)
		}
	}
}

// Package holders implements the table that lets a shared primitive give back
// what a dead process held: the read holds of a lock.RWMutex, the units of a
// bounded semaphore, the parties of an event.Barrier.
//
// # Slot word
//
// A table is Slots 64-bit words. Each word is 0 (free) or names one process
// and carries 10 bits for the primitive's use (a count of holds, or a
// generation tag):
//
//	bits 63..42  pid (22 bits: Linux pids are below 2^22, PID_MAX_LIMIT)
//	bits 41..10  start time of the process in clock ticks, low 32 bits
//	bits 9..0    Low: a count (1..MaxLow) or a tag
//
// The identity is the same pid and start time as a [proc.Identity], so a slot
// whose process has died (or whose pid was reused) is recognised exactly as
// a robust lock word's holder is. Because the owner and its count share one
// word, every change to a slot is a single compare-and-swap: a process
// killed at any instant leaves every slot either before or after its change,
// never half-way.
//
// # Placement
//
// The slots are spread over Lines cache lines: slot i is word i/Lines of line
// i%Lines (see [Offset]). A process starts looking for a slot at pid%Slots,
// so processes with consecutive pids, which is what a parent spawning
// workers produces, use slots on different cache lines and do not slow each
// other down by writing to one line.
package holders

import (
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/proc"
)

// Table geometry and slot fields.
const (
	Slots   = 64                    // slots in a table
	Lines   = 8                     // cache lines the slots are spread over
	Size    = Slots * 8             // bytes of a table
	LowBits = 10                    // bits for the primitive's count or tag
	LowMask = 1<<LowBits - 1        // mask of those bits
	MaxLow  = LowMask               // largest count one slot holds
	pidBits = 22                    // bits of a pid
	maxPid  = 1<<pidBits - 1        // largest pid a slot can name
	tagMask = ^uint64(0) &^ LowMask // the identity part of a slot
)

// Offset returns the byte offset of slot i from the start of a table.
func Offset(i int) int {
	return (i%Lines)*layout.CacheLine + (i/Lines)*8
}

// Pack returns the slot word naming id with low in its low bits. It returns
// 0 if id's pid does not fit in 22 bits.
func Pack(id proc.Identity, low uint64) uint64 {
	pid := id.Pid()
	if pid <= 0 || pid > maxPid {
		return 0
	}
	return uint64(pid)<<(32+LowBits) | uint64(id.Start())<<LowBits | low&LowMask
}

// Owner returns the identity of the process a slot word names.
func Owner(w uint64) proc.Identity {
	return proc.Make(int(w>>(32+LowBits)), w>>LowBits)
}

// Low returns the count or tag of a slot word.
func Low(w uint64) uint64 { return w & LowMask }

// Tag returns the identity part of a slot word (its low bits cleared).
func Tag(w uint64) uint64 { return w & tagMask }

// SelfTag returns the calling process's tag: its slot word with a zero low
// part. It returns 0 if the pid does not fit in a slot, which cannot happen
// on Linux.
func SelfTag() uint64 {
	return Pack(proc.Self(), 0)
}

// Table is a handle on a table in shared memory. Its methods are safe for
// concurrent use by the goroutines of one process.
type Table struct {
	slot [Slots]*uint64
	tag  uint64        // SelfTag
	hint atomic.Uint32 // the slot this process last used
}

// New returns a handle on the table in mem, which must be at least Size
// bytes, 8-byte aligned, in a shared mapping. tag is SelfTag(), non-zero.
func New(mem []byte, tag uint64) *Table {
	t := &Table{tag: tag}
	for i := range t.slot {
		t.slot[i] = layout.U64(mem, Offset(i))
	}
	t.hint.Store(uint32(proc.Self().Pid() % Slots))
	return t
}

// Slot returns the address of slot i (taken modulo Slots).
func (t *Table) Slot(i int) *uint64 { return t.slot[i&(Slots-1)] }

// Self returns the calling process's tag.
func (t *Table) Self() uint64 { return t.tag }

// Hint returns the index of the slot this process used last.
func (t *Table) Hint() int { return int(t.hint.Load() & (Slots - 1)) }

// SetHint records that this process uses slot i.
func (t *Table) SetHint(i int) { t.hint.Store(uint32(i & (Slots - 1))) }

// Start is where a search for a free slot begins: pid % Slots.
func (t *Table) Start() int { return t.start() }

// start is where a search for a free slot begins: pid % Slots.
func (t *Table) start() int { return Owner(t.tag).Pid() % Slots }

// Inc adds one to a slot of this process, claiming a free slot if it has
// none with room, and returns the slot's index and whether the slot was
// claimed by this call (its count went from 0 to 1). It returns -1 when the
// table is full.
func (t *Table) Inc() (int, bool) {
	h := t.Hint()
	if ok, claimed := t.incAt(h); ok {
		return h, claimed
	}
	// A slot of ours with room, anywhere.
	for i := 0; i < Slots; i++ {
		p := t.slot[i]
		for {
			v := atomic.LoadUint64(p)
			if Tag(v) != t.tag || Low(v) >= MaxLow {
				break
			}
			// Acquire/release: the count of this process's holds.
			if atomic.CompareAndSwapUint64(p, v, v+1) {
				t.hint.Store(uint32(i))
				return i, false
			}
		}
	}
	// A free slot, starting at pid % Slots.
	s := t.start()
	for k := 0; k < Slots; k++ {
		i := (s + k) % Slots
		// Claim: publishes this process as a holder in one step.
		if atomic.LoadUint64(t.slot[i]) == 0 && atomic.CompareAndSwapUint64(t.slot[i], 0, t.tag|1) {
			t.hint.Store(uint32(i))
			return i, true
		}
	}
	return -1, false
}

// incAt adds one to slot i if it belongs to this process and has room, or
// claims it if it is free, and reports whether it did and whether it
// claimed.
func (t *Table) incAt(i int) (ok, claimed bool) {
	p := t.slot[i]
	v := atomic.LoadUint64(p)
	switch {
	case v == 0:
		ok = atomic.CompareAndSwapUint64(p, 0, t.tag|1)
		return ok, ok
	case Tag(v) == t.tag && Low(v) < MaxLow:
		return atomic.CompareAndSwapUint64(p, v, v+1), false
	}
	return false, false
}

// Dec takes one from a slot of this process, freeing the slot when its count
// reaches 0. It reports whether this process had a slot with a count, and
// whether the slot was freed.
func (t *Table) Dec() (ok, freed bool) {
	h := t.Hint()
	if ok, freed := t.decAt(h, t.tag); ok {
		return true, freed
	}
	for i := 0; i < Slots; i++ {
		if ok, freed := t.decAt(i, t.tag); ok {
			t.hint.Store(uint32(i))
			return true, freed
		}
	}
	return false, false
}

// DecAny takes one from any slot with a count, preferring this process's,
// and reports whether there was one.
func (t *Table) DecAny() bool {
	if ok, _ := t.Dec(); ok {
		return true
	}
	s := t.start()
	for k := 0; k < Slots; k++ {
		if ok, _ := t.decAt((s+k)%Slots, 0); ok {
			return true
		}
	}
	return false
}

// decAt takes one from slot i if it has a count and, when tag is non-zero,
// belongs to tag.
func (t *Table) decAt(i int, tag uint64) (ok, freed bool) {
	p := t.slot[i]
	for {
		v := atomic.LoadUint64(p)
		if v == 0 || Low(v) == 0 || (tag != 0 && Tag(v) != tag) {
			return false, false
		}
		nv := v - 1
		if Low(v) == 1 {
			nv = 0 // free the slot with the last hold
		}
		// Release: the hold ends here; a waiter that sees the slot free or
		// lower sees it ended.
		if atomic.CompareAndSwapUint64(p, v, nv) {
			return true, nv == 0
		}
	}
}

// Empty reports whether every slot is free.
func (t *Table) Empty() bool {
	for _, p := range t.slot {
		if atomic.LoadUint64(p) != 0 {
			return false
		}
	}
	return true
}

// Reap frees the slots of dead processes and returns the sum of their counts
// and how many slots it freed. Slots of this process are never checked. Each
// other occupied slot costs a liveness check (a read of /proc/PID/stat).
func (t *Table) Reap() (count, slots int) {
	for _, p := range t.slot {
		v := atomic.LoadUint64(p)
		if v == 0 || Tag(v) == t.tag || proc.Alive(Owner(v)) {
			continue
		}
		// Only one reaper wins; the dead process cannot change its slot.
		if atomic.CompareAndSwapUint64(p, v, 0) {
			count += int(Low(v))
			slots++
		}
	}
	return count, slots
}

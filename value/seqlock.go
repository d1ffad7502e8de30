package value

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"

	"github.com/shmkit/shmkit/internal/spin"
)

// The seqlock of a Value whose T is over 8 bytes is the latch form of the
// seqlock (Lameter, "Effective synchronization on Linux/NUMA systems",
// 2005; the latch is the Linux kernel's seqcount_latch_t): two slots each
// hold a whole T, and the sequence's low two bits, the phase, say which
// slot readers use.
//
//	phase 0  idle: both slots hold the value; readers use slot 0
//	phase 1  the writer is writing slot 0; readers use slot 1
//	phase 2  the writer is writing slot 1; readers use slot 0 (the new value)
//	phase 3  never written by a writer; readers use slot 0
//
// A write (under the value's lock, so writers take turns) goes, from a
// sequence s in phase 0:
//
//	W1. store s+1: phase 1; write slot 0
//	W2. store s+2: phase 2; write slot 1
//	W3. store s+4: phase 0 of the next write
//
// A reader:
//
//	R1. load the sequence s; pick the slot its phase names
//	R2. copy the slot, one atomic load per 64-bit word
//	R3. load the sequence again: the copy is good if no write step that
//	    writes the slot it read began in between. For a slot read in phase
//	    2 (slot 0) that is a sequence at most s+2 (W3 of that write); for
//	    phases 0 and 1, the sequence unchanged.
//
// A reader never waits for a writer: whatever step a writer is at, or died
// at, one slot is complete and the phase names it. The next writer finds
// the phase of a dead one in the sequence and repairs first (repair).
//
// Memory order. Every access to the sequence and to the slots is a Go
// atomic operation, which is sequentially consistent, so the argument of
// Boehm ("Can seqlocks get along with programming language memory
// models?", 2012) needs no fences. If a word load of R2 saw a store of the
// slot it reads, that store follows, in the single total order of atomics,
// the sequence store that began its step (W1 for slot 0, W2 for slot 1),
// so R3 sees that sequence or a later one: the reader in phase 0 or 1 sees
// a change, and the reader of slot 0 in phase 2, whose slot is next
// written by the following write's W1, sees at least s+3. Either way it
// retries. Plain loads of the slots would be a data race, which the
// compiler may assume absent: it could, for one, load a word twice and see
// two values. The writer's slot stores are atomic for the same reason, and
// because on arm64 a store-release (Go's atomic store) is what keeps them
// after the sequence store that precedes them.

// seqTries bounds the lock-free read attempts of loadSeq before it reads
// under the lock instead. A read fails only when a write step that touches
// its slot starts while it copies; a sequence that keeps changing that
// often is a peer writing without the lock, or writers so frequent that
// waiting one's turn on the lock is the fair thing to do.
const seqTries = 100

// Test hooks, set by tests only. testHookWrite is called in the middle of
// writing a slot, with the write step (1 or 2), half of the slot written;
// testHookRead between steps R2 and R3 of every read attempt.
var (
	testHookWrite func(step int)
	testHookRead  func()
)

// loadSeq reads a seqlock-mode value (R1 to R3), falling back to a read
// under the lock after seqTries attempts.
func (v *Value[T]) loadSeq() (x T) {
	dst := bytesOf(&x, v.size)
	for range seqTries {
		// R1. Acquire: the slot the phase names was complete when s was
		// stored.
		s := atomic.LoadUint64(v.seq)
		slot, slack := v.readSlot(s)
		// R2.
		loadWords(dst, slot)
		if testHookRead != nil {
			testHookRead()
		}
		// R3. Sequentially consistent: ordered after every load of R2.
		if atomic.LoadUint64(v.seq)-s <= slack {
			return x
		}
		spin.Pause()
	}
	v.loadLocked(dst)
	return x
}

// readSlot returns the slot that readers use in the phase of s, and how far
// the sequence may move while a read of it is still good.
func (v *Value[T]) readSlot(s uint64) (unsafe.Pointer, uint64) {
	switch s & 3 {
	case 1:
		return v.slot1, 0
	case 2:
		return v.slot0, 2
	}
	return v.slot0, 0
}

// loadLocked reads the value under its lock, where no writer can run.
func (v *Value[T]) loadLocked(dst []byte) {
	v.fallbacks.Add(1)
	v.mu.Lock()
	v.loadHeld(dst)
	v.mu.Unlock()
}

// loadHeld reads the value, the caller holding the lock. A writer that died
// may have left the sequence in phase 1 or 2: the phase still names a
// complete slot.
func (v *Value[T]) loadHeld(dst []byte) {
	// Acquire: pairs with the last writer's stores (the lock orders them too).
	slot, _ := v.readSlot(atomic.LoadUint64(v.seq))
	loadWords(dst, slot)
}

// storeSeq writes a seqlock-mode value (W1 to W3), the caller holding the
// lock.
func (v *Value[T]) storeSeq(src []byte) {
	// Only lock holders store the sequence: this is its current value.
	s := atomic.LoadUint64(v.seq)
	if s&3 != 0 {
		s = v.repair(s)
	}
	// W1. Readers move to slot 1, which holds the current value; the store
	// is ordered before the slot's word stores.
	atomic.StoreUint64(v.seq, s+1)
	writeSlot(v.slot0, src, 1)
	// W2. Publishes slot 0: readers move to the new value.
	atomic.StoreUint64(v.seq, s+2)
	writeSlot(v.slot1, src, 2)
	// W3. Both slots hold the new value.
	atomic.StoreUint64(v.seq, s+4)
}

// repair finishes the write of a writer that died at step W1 or W2 (the
// phase of s), so that both slots hold the same complete value again, and
// returns the new sequence, in phase 0. Readers keep reading the complete
// slot meanwhile: repair writes only the other one.
func (v *Value[T]) repair(s uint64) uint64 {
	n := uintptr(v.stride)
	switch s & 3 {
	case 1:
		// Died in W1: slot 1 holds the last value, slot 0 is torn.
		copyWords(v.slot0, v.slot1, n)
		s += 3
	default:
		// Died in W2: slot 0 holds the new value, slot 1 is torn. Phase 3
		// is never written: a peer scribbled on the sequence, and readers
		// trust slot 0 as in phase 2.
		copyWords(v.slot1, v.slot0, n)
		s = s&^3 + 4
	}
	// Publishes the repaired slot: phase 0.
	atomic.StoreUint64(v.seq, s)
	return s
}

// bytesOf returns the n bytes of *p (n is the size of T).
func bytesOf[T any](p *T, n int) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), n)
}

var ne = binary.NativeEndian

// loadWords fills dst from the 8-byte-aligned words at src, one atomic load
// per word. src holds len(dst) rounded up to whole words.
func loadWords(dst []byte, src unsafe.Pointer) {
	d := unsafe.Pointer(unsafe.SliceData(dst))
	if uintptr(d)%8 != 0 || len(dst)%8 != 0 {
		loadBytes(dst, src)
		return
	}
	// The common case, a T aligned to 8: whole words, no byte shuffling.
	// Each load is ordered between the caller's two sequence loads (R1, R3).
	for i := 0; i < len(dst); i += 8 {
		*(*uint64)(unsafe.Add(d, i)) = atomic.LoadUint64((*uint64)(unsafe.Add(src, i)))
	}
}

// loadBytes is loadWords for a dst of any alignment and length.
func loadBytes(dst []byte, src unsafe.Pointer) {
	i := 0
	// Ordered as in loadWords.
	for ; i+8 <= len(dst); i += 8 {
		ne.PutUint64(dst[i:], atomic.LoadUint64((*uint64)(unsafe.Add(src, i))))
	}
	if i < len(dst) {
		var tail [8]byte
		ne.PutUint64(tail[:], atomic.LoadUint64((*uint64)(unsafe.Add(src, i))))
		copy(dst[i:], tail[:])
	}
}

// storeWords writes src to the 8-byte-aligned words at dst, one atomic
// store per word; the bytes of the last word beyond src are zeroed.
func storeWords(dst unsafe.Pointer, src []byte) {
	i := 0
	// Each store is ordered after the sequence store that began the step
	// (W1, W2) and before the one that ends it.
	for ; i+8 <= len(src); i += 8 {
		atomic.StoreUint64((*uint64)(unsafe.Add(dst, i)), ne.Uint64(src[i:]))
	}
	if i < len(src) {
		var tail [8]byte
		copy(tail[:], src[i:])
		atomic.StoreUint64((*uint64)(unsafe.Add(dst, i)), ne.Uint64(tail[:]))
	}
}

// copyWords copies n bytes, a multiple of 8, between two slots, word by
// word with atomic loads and stores.
func copyWords(dst, src unsafe.Pointer, n uintptr) {
	// Loads of the complete slot, stores into the torn one, both before
	// repair's sequence store publishes the result.
	for i := uintptr(0); i < n; i += 8 {
		atomic.StoreUint64((*uint64)(unsafe.Add(dst, i)), atomic.LoadUint64((*uint64)(unsafe.Add(src, i))))
	}
}

// writeSlot writes src to a slot: storeWords, split around testHookWrite
// when a test has set it.
func writeSlot(dst unsafe.Pointer, src []byte, step int) {
	if hook := testHookWrite; hook != nil {
		half := len(src) / 2 &^ 7
		storeWords(dst, src[:half])
		hook(step)
		dst, src = unsafe.Add(dst, half), src[half:]
	}
	storeWords(dst, src)
}

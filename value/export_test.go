package value

import "sync/atomic"

// Offsets for the corruption and crash tests of the external tests.
const (
	OffLock = offLock
	OffSeq  = offSeq
	OffData = offData
)

// Forms of value objects, for the fuzz test's expectations.
const (
	FormValue  = formValue
	FormInt64  = formInt64
	FormUint64 = formUint64
)

// SetWriteHook sets the function called in the middle of each seqlock slot
// write, with the write step (1 or 2); nil removes it.
func SetWriteHook(f func(step int)) { testHookWrite = f }

// SetReadHook sets the function called between the copy and the second
// sequence load of every seqlock read attempt; nil removes it.
func SetReadHook(f func()) { testHookRead = f }

// SeqTries is the bound on lock-free read attempts.
const SeqTries = seqTries

// Seq returns the value's sequence.
func Seq[T any](v *Value[T]) uint64 { return atomic.LoadUint64(v.seq) }

// Fallbacks returns how many of this handle's reads fell back to the lock.
func Fallbacks[T any](v *Value[T]) uint64 { return v.fallbacks.Load() }

// LoadLocked reads the value under its lock: the alternative to the
// seqlock that the benchmarks compare it with.
func LoadLocked[T any](v *Value[T]) (x T) {
	v.mu.Lock()
	v.loadHeld(bytesOf(&x, v.size))
	v.mu.Unlock()
	return x
}

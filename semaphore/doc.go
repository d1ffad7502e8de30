// Package semaphore provides counting semaphores shared between processes,
// kept in a shared memory segment: Python's multiprocessing.Semaphore and
// BoundedSemaphore, with a context on Acquire, no system call when
// uncontended, and — for bounded semaphores — the units of a process that
// dies holding them given back.
//
// The smallest use: at most four processes at a time use a scarce resource.
//
//	// creator
//	s, err := semaphore.NewBounded(seg, "gpu", 4)
//
//	// in every worker process
//	s, err := semaphore.Open(seg, "gpu")
//	if err := s.Acquire(ctx); err != nil {
//		return err // ctx ended
//	}
//	defer s.Release()
//	... // at most 4 processes are here at once
//
// # Memory layout
//
// All integers are in the machine's byte order (little-endian on amd64 and
// arm64); docs/layout.md is the byte-level specification. A semaphore is
// kind 5: 64 bytes for a counting semaphore, 576 for a bounded one.
//
//	offset  size  field     written by                     how
//	0       4     value     Acquire, Release, recovery     CAS: units available; futex word
//	4       4     waiters   Acquire                        add/sub: goroutines blocked in Acquire
//	8       4     flags     creator                        1 bounded, 0 counting
//	12      4     initial   creator                        the initial value: a bounded one's bound
//	16      4     overflow  bounded: Acquire, Release      add/CAS: units held by processes
//	                                                       without a holder slot
//	20      44    —         nobody                         zero
//	64      512   holders   bounded: Acquire, Release,     CAS: 64 holder slots
//	                        recovery
//
// Holder slot i is at 64 + (i%8)*64 + (i/8)*8. A slot is 0 (free) or
// pid<<42 | start<<10 | count: a process, by pid and the low 32 bits of its
// start time in clock ticks, and how many units it holds in that slot (1 to
// 1023; a process holding more uses more slots).
//
// # Algorithm
//
// Acquire takes a unit with a CAS of value from v to v-1 when v > 0. When
// value is 0 it spins a bounded, adaptive number of polls, then adds itself
// to waiters and sleeps on value while it is 0. Release adds one with a CAS
// and makes a wake system call only when waiters is not 0. Because the
// waiter counts itself before its last look at value, and the releaser
// looks at waiters after its increment, one of them sees the other (Go's
// atomics are sequentially consistent): no wake-up is lost. A counting
// semaphore's uncontended Acquire and Release are one load and one CAS
// each, and a load of waiters in Release.
//
// A bounded semaphore also records who holds its units. Acquire takes a unit
// from value and then adds one to its process's holder slot (claiming a
// free slot with one CAS if it has none); Release takes one out of the
// record first — its own slot, else overflow, else another process's slot
// (a unit released by a process other than the one that acquired it) — and
// then gives the unit back, refusing with ErrOverRelease if value is already
// at its bound. So at every instant
//
//	value + (sum of the slots) + overflow <= initial
//
// and value never exceeds initial. A goroutine blocked in Acquire looks
// every 25 ms for slots whose process has died; it frees such a slot with
// one CAS (only one looker can win it) and then adds its count to value,
// never above the bound, and wakes that many waiters. TryAcquire on an
// empty bounded semaphore looks too, at most every 25 ms per handle.
//
// # Crash behaviour
//
// A process killed with SIGKILL:
//
//   - holding units of a counting semaphore: the units are lost, as with a
//     POSIX semaphore. The semaphore keeps working with fewer units.
//   - holding units of a bounded semaphore: a blocked Acquire (or a
//     TryAcquire that finds none) gives them back within about 25 ms.
//     Exceptions, each of which loses units as a counting semaphore does:
//     units of a process that found the 64-slot table full (recorded only in
//     overflow); a process killed in the few instructions between the two
//     atomic operations of Acquire (unit taken, not yet recorded) or of
//     Release (record removed, unit not yet given back), which loses that
//     one unit; a recoverer killed between freeing a dead slot and adding
//     its count to value. Each window errs on the side of fewer units, never
//     more: the bound always holds.
//   - holding units that another process will release for it (a unit
//     released by a process other than its acquirer): Release takes the
//     unit out of some process's record, not necessarily the acquirer's.
//     Recovery is exact when every unit is released by the process that
//     acquired it. Otherwise a dead process's record may be off by the units
//     released on its behalf or on others': recovery may then keep a unit
//     that is free (lost, as on a counting semaphore), or give back one that
//     is still in use, so that one more process than the bound may hold a
//     unit until it is released, and that release then fails with
//     ErrOverRelease. value itself never exceeds the bound.
//   - blocked in Acquire: waiters stays one too high, and every Release then
//     makes a futex wake system call that was not needed. Nothing else.
//
// # Compatibility
//
// This layout is version 3 of the segment layout (shm.Version). Any change
// to it increments the version, and shm.Open refuses a segment of another
// version: processes that share a segment must use builds of shmkit with
// the same layout version. The kind number (5) never changes.
package semaphore

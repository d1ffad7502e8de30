// Package lock provides locks shared between processes — Mutex, RWMutex and
// Cond — that live in a shared memory segment, cost no system call when
// uncontended, honour a context on every blocking call, and survive the
// death of a process that holds them.
//
// They are what Python's multiprocessing.Lock and Condition are, without
// their failure mode: a process killed while holding a multiprocessing lock
// leaves every other process blocked forever; here a waiter notices the
// death within about 25 ms and takes the lock over, and LockContext tells it
// so with ErrOwnerDead, like a POSIX robust mutex's EOWNERDEAD.
//
// The smallest use, in a parent and a child process:
//
//	var worker = spawn.Register("worker", func(ctx context.Context, c *spawn.Child) error {
//		m, err := lock.OpenMutex(c.Segments()[0], "m")
//		if err != nil {
//			return err
//		}
//		if err := m.LockContext(ctx); errors.Is(err, lock.ErrOwnerDead) {
//			// the previous holder died holding m: repair the shared data
//		} else if err != nil {
//			return err
//		}
//		defer m.Unlock()
//		... // use the data m protects
//		return nil
//	})
//
//	seg, _ := shm.CreateAnon(1 << 20)
//	m, _ := lock.NewMutex(seg, "m")
//	p, _ := worker.Start(ctx, spawn.Options{Segments: []*shm.Segment{seg}})
//	m.Lock()
//	...
//	m.Unlock()
//
// # No reentrant lock
//
// There is no equivalent of Python's RLock, by design, as in package sync. A
// reentrant lock must know which thread of control holds it, and Go gives
// goroutines no identity: a goroutine may start others, and any of them may
// unlock. The lock word records a process, which is all a survivor needs to
// detect a death, and every goroutine of the holding process counts as the
// holder. Reentrancy also hides bugs: a function that relocks a lock its
// caller holds cannot know whether the invariants the lock protects hold at
// that point. Structure such code as an exported function that locks and
// unexported helpers that require the lock held. A goroutine that locks a
// Mutex it holds deadlocks (its own process is alive, so no takeover).
//
// # Memory layout
//
// All integers are in the machine's byte order (little-endian on amd64 and
// arm64); docs/layout.md is the byte-level specification. Offsets are from
// the object's start; every object starts on a 64-byte boundary.
//
// Mutex (kind 2, 64 bytes):
//
//	offset  size  field    written by                      how
//	0       8     lock     lockers and unlockers           CAS: robust lock word
//	8       56    —        nobody                          zero
//
// The robust lock word is 0 when free, else the holder's identity (pid in
// bits 62..32, the low 32 bits of its start time in clock ticks in bits
// 31..0) with bit 63 (W) set when a waiter may be asleep on the futex at
// the word's high half.
//
// RWMutex (kind 3, RWMutexSize = 576 bytes):
//
//	offset  size  field    written by                      how
//	0       8     writer   writers; readers freeing a      CAS: robust lock word of the writer
//	                       dead writer's word              holding or waiting for write access
//	8       4     state    the process holding writer      store/swap: 1 while a writer has
//	                                                       write access, or died with it
//	12      4     gate     writer Unlock; readers          add: futex word readers sleep on
//	                       freeing a slot
//	16      4     drain    the waiting writer; readers     store 1 / swap 0: futex word the
//	                       freeing a slot                  writer sleeps on
//	20      4     full     readers waiting for a slot      add/sub: how many
//	24      4     waiting  readers waiting for the writer  add/sub: how many
//	28      36    —        nobody                          zero
//	64      512   readers  readers; writers and waiting    CAS: 64 reader slots
//	                       readers freeing dead slots
//
// Reader slot i is at 64 + (i%8)*64 + (i/8)*8, so that slots of processes
// with neighbouring pids fall on different cache lines. A slot is 0 (free)
// or pid<<42 | start<<10 | count: a process, by pid and the low 32 bits of
// its start time, and how many read locks its goroutines hold in that slot
// (1 to 1023).
//
// Cond (kind 4, 64 bytes):
//
//	offset  size  field    written by                      how
//	0       4     seq      Signal, Broadcast               add: futex word waiters sleep on
//	4       4     waiters  Wait                            add/sub: goroutines in Wait
//	8       56    —        nobody                          zero
//
// # Algorithm
//
// Mutex is Drepper's "mutex3" ("Futexes Are Tricky", 2011) with the
// holder's identity in place of the constant 1: CAS 0 → self to lock, CAS
// self → 0 to unlock; a contended waiter spins a bounded, adaptive number of
// polls, then sets W and sleeps on the word's high half; an Unlock that
// finds W wakes one waiter. A waiter sleeps at most 25 ms at a time, and
// when the same holder has held the lock that long it checks the holder's
// identity against /proc; if the holder has died, the waiter takes the word
// with one CAS, which only one waiter can win.
//
// RWMutex keeps one slot per reading process rather than one shared reader
// count, so that readers in different processes write different cache
// lines. A reader claims or increments its process's slot with a CAS and
// then loads the writer word; a writer takes the writer word (a robust
// lock, so writers queue there and a dead writer is taken over) and then
// scans the slots. With sequentially consistent atomics, of these two pairs
// one comes first: the reader sees the writer and backs out, or the writer
// sees the reader and waits for it (Dekker's argument). A reader that sees a
// writer, holding or waiting, waits on gate: writers are preferred, and a
// stream of readers cannot starve them. The writer sleeps on drain, and the
// reader that frees the last slot wakes it. Uncontended, RLock is one CAS
// (claiming the process's first-choice slot, pid % 64) and one load, and
// RUnlock one CAS (freeing it) and one load, both inlined; Lock is a CAS, a
// scan of the 64 slots (8 cache lines) and a swap; Unlock two checking
// loads, a store, a CAS and a load. Read locks taken while another goroutine
// of the same process reads share its slot (counting, through the slow
// path); a process needs a second slot only beyond 1023 read locks at once,
// or when another process occupies its first choice.
//
// Cond is a sequence-counter condition variable (as in Rust's standard
// library): Wait loads seq and counts itself in waiters while it holds the
// Mutex, unlocks, spins briefly (the adaptive budget of the Mutex's waits)
// and then sleeps while seq is unchanged; Signal and Broadcast
// make no system call and write nothing when waiters is 0, and otherwise
// add one to seq and wake one or all. A Signal that comes between the
// unlock and the sleep changes seq first, so the futex wait returns at once:
// no wake-up is lost. Wait may return spuriously (re-check the condition in
// a loop), and it always returns with the Mutex held.
//
// The numbered interleavings are in the source, beside the code they label.
// Go's race detector cannot see the accesses other processes make to shared
// memory; the multi-process tests check the invariants directly.
//
// # Crash behaviour
//
// A process killed with SIGKILL at any point leaves every lock usable:
//
//   - Mutex, killed holding it: the first blocked waiter takes it over
//     within about 25 ms; LockContext returns ErrOwnerDead (the lock is
//     held; repair the data), Lock takes it silently. The data the Mutex
//     protects may be half-updated.
//   - RWMutex, killed holding write access: the next RLockContext and
//     LockContext (and every RLockContext until then) return ErrOwnerDead:
//     the lock is held, the data may be half-written. The first writer
//     that unlocks marks it consistent again. The dead writer's word is
//     freed within about 25 ms by whichever waiter, reader or writer,
//     notices first. RLock and Lock take over silently.
//   - RWMutex, killed while waiting for write access (before it had it),
//     or holding read locks: nothing is reported, since the data was not
//     changed; its writer word or its reader slot is freed within about
//     25 ms by a waiting writer (or a reader waiting for the writer or for
//     a slot). A reader's death is noticed only while someone waits for it.
//   - Cond, killed in Wait: nothing beyond the Mutex, which Wait does not
//     hold while it sleeps, and which it re-locks with LockContext: if the
//     Mutex's holder died, Wait returns ErrOwnerDead with the Mutex held.
//   - Killed inside any call: each change to a lock word or a reader slot
//     is a single CAS, so nothing is left half-done.
//   - Killed while blocked: a waiter count (waiting, full, or Cond's
//     waiters) stays one too high. The only effect is that the matching
//     wake path makes a futex wake system call that was not needed.
//
// Limits: at most RWMutexReaders (64) processes hold read locks on one
// RWMutex at a time; a reader in a 65th process waits until a slot frees.
// Every process sharing a segment must be in the same pid namespace.
//
// # Compatibility
//
// These layouts are version 3 of the segment layout (shm.Version). Any
// change to them increments the version, and shm.Open refuses a segment of
// another version: processes that share a segment must use builds of shmkit
// with the same layout version. The kind numbers (2, 3, 4) never change.
package lock

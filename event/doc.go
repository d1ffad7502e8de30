// Package event provides Event and Barrier, signalling primitives shared
// between processes and kept in a shared memory segment: Python's
// multiprocessing.Event and Barrier, with a context on every Wait, no system
// call when nobody waits, and a Barrier that breaks, rather than hangs its
// waiters, when a party process dies.
//
// The smallest use: workers wait for a start signal, then meet after each
// step.
//
//	// creator
//	start, err := event.New(seg, "start")
//	step, err := event.NewBarrier(seg, "step", workers)
//	... start the workers ...
//	start.Set() // wakes every waiter in every process
//
//	// in each worker process
//	start, err := event.Open(seg, "start")
//	step, err := event.OpenBarrier(seg, "step")
//	if err := start.Wait(ctx); err != nil {
//		return err
//	}
//	for {
//		... // one step of work
//		if _, err := step.Wait(ctx); err != nil {
//			return err // ErrBroken: a party gave up or died; or ctx ended
//		}
//	}
//
// # Memory layout
//
// All integers are in the machine's byte order (little-endian on amd64 and
// arm64); docs/layout.md is the byte-level specification.
//
// Event (kind 6, 64 bytes):
//
//	offset  size  field    written by        how
//	0       4     state    Set, Clear        CAS: bit 0 set; bits 31..1 count Sets; futex word
//	4       4     waiters  Wait              add/sub: goroutines blocked in Wait
//	8       56    —        nobody            zero
//
// Barrier (kind 7, 576 bytes):
//
//	offset  size  field    written by               how
//	0       4     count    Wait, Abort, Reset       CAS of the 64-bit word at 0: arrivals this round
//	4       4     seq      Wait, Abort, Reset       same CAS: round (bits 31..16), broken (bit 15),
//	                                                history (bits 14..0); futex word
//	8       4     parties  creator                  arrivals that complete a round, 1 to MaxParties
//	12      4     waiters  Wait                     add/sub: goroutines blocked in Wait
//	16      48    —        nobody                   zero
//	64      512   members  Wait, Leave, waiters     CAS: 64 party slots
//	                       freeing dead parties
//
// History bit k says how round (round-1-k) ended: 1 broken (and reset), 0
// completed. Party slot i is at 64 + (i%8)*64 + (i/8)*8; a slot is 0 (free)
// or pid<<42 | start<<10 | tag: a process, by pid and the low 32 bits of its
// start time in clock ticks, and the round it last arrived in, modulo 1023,
// or 1023 while it is arriving.
//
// # Algorithm
//
// Event's state counts the Sets that found it clear (bits 31..1) beside the
// flag (bit 0). Set on a set event is one load. Otherwise Set adds 2 and
// raises the flag with a CAS, then wakes every sleeper if waiters is not 0.
// A waiter that found the event clear with state s counts itself in
// waiters and sleeps while state is still s: any Set changes state, even
// one followed at once by a Clear, so Set then Clear releases every
// goroutine that was waiting (the count wraps after 2^31 Sets).
//
// Barrier's round, broken flag, history and arrival count share one 64-bit
// word, changed only by CAS, so every transition is atomic. An arrival adds
// one to count; the arrival that makes count reach parties instead starts
// the next round (count 0, round+1, history shifted in with 0) and wakes the
// waiters. Abort sets the broken bit. Reset starts the next round with
// history bit 1. A waiter sleeps on the high half (seq) while it holds the
// value its arrival saw, and when it changes reads its own round's outcome
// there: the broken bit in the same round, or the history bit of its round
// in a later one. A waiter that slept through more than 15 rounds (possible
// only when more goroutines than parties use the barrier) takes its round
// as completed.
//
// # Crash behaviour
//
// Event: nothing in it belongs to any process, so a death leaves it
// consistent. A setter killed between its CAS and its wake leaves the flag
// raised and sleepers asleep; they notice within 25 ms, since every sleep is
// bounded by that. A waiter killed while blocked leaves waiters one too high:
// every later Set that raises the flag then makes one futex wake system call
// that was not needed. Nothing else.
//
// Barrier: a process becomes a party at its first Wait. Its slot in the
// members table records the round it last arrived in, written after its
// arrival, with "arriving" written before it. Every goroutine blocked in
// Wait for 25 ms looks at the slots not tagged with the current round, and
// if a party whose slot says arriving, or says the previous round, has died,
// it breaks the barrier (every waiter returns ErrBroken, as after Abort) and
// frees the slot. So:
//
//   - detected: a party that arrived in the previous round (or found the
//     barrier broken there) and died before arriving in this one; a party
//     killed inside Wait, before or after its arrival was counted. The
//     barrier breaks within about 25 ms of the death once a party is
//     blocked in the round the dead party misses. A party killed while
//     waiting, after its arrival counted, lets its round complete, and
//     breaks the next one.
//   - not detected: a process that dies before its first Wait (it is not
//     yet known as a party); a party that died two or more rounds before the
//     current one (possible only when more goroutines than parties use the
//     barrier); a party that has not waited since the last Reset (Reset
//     forgets every party until its next Wait); a party beyond the 64
//     processes the table holds; a process that provides
//     several parties (goroutines) and dies after some of them arrived in
//     the current round: its slot, shared by its goroutines, says it
//     arrived, so that round waits for the others until their contexts end.
//   - a party process that exits normally is, to the others, a dead party.
//     Call Leave in a process that will not wait again; before a new set of
//     processes uses a barrier whose parties have exited, call Reset (slots
//     of dead processes two or more rounds old are freed as they are seen).
//
// A party killed inside Wait leaves the barrier consistent, since each
// change to the state word or a slot is one CAS; killed while blocked, it
// leaves waiters one too high, which costs an unneeded wake system call per
// round.
//
// # Compatibility
//
// These layouts are version 3 of the segment layout (shm.Version). Any
// change to them increments the version, and shm.Open refuses a segment of
// another version: processes that share a segment must use builds of shmkit
// with the same layout version. The kind numbers (6, 7) never change.
package event

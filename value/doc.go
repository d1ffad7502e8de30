// Package value keeps typed values in shared memory: Value[T], a T of any
// fixed-size type without pointers that carries a robust lock of its own
// (Python's multiprocessing.Value), and Int64, Uint64, Int32 and Uint32,
// lock-free atomic integers (sync/atomic's, between processes).
//
// Python's Value('i', 0), incremented with "with v.get_lock(): v.value += 1"
// in any number of processes:
//
//	counter, err := value.New[int64](seg, "counter") // holds 0
//	...
//	counter, err := value.Open[int64](seg, "counter") // in another process
//	counter.Update(func(n *int64) { *n++ })            // no increment is lost
//	fmt.Println(counter.Load())
//
// and the lock-free counter:
//
//	hits, err := value.NewInt64(seg, "hits")
//	hits.Add(1) // one atomic instruction on the shared word
//
// # Types
//
// T may be any type without pointers: booleans, integers, floating-point
// and complex numbers, and arrays and structs of those, nested to any
// depth. New and Open refuse any other T (pointers, unsafe.Pointer,
// strings, slices, maps, interfaces, channels, functions, wherever they
// hide) with an error wrapping ErrUnsupportedType that names the field:
// another process cannot follow a pointer into this one, and no garbage
// collector sees pointers stored in shared memory.
//
// The object records T's size, its alignment and its fingerprint, a hash
// of its structure: kinds, array lengths, field names and offsets, at every
// depth. Open[T] checks all three and returns shm.ErrWrongKind, saying what
// differs, for a value created for another type. The names of defined types
// are not in the fingerprint, so a struct declared in one program opens as
// the same struct declared in another, and type Celsius float64 as float64:
// what processes must agree on is the bytes. Field names are in it, so
// swapping two fields of the same type does not go unnoticed. The integer
// types' objects record their own forms: an Int64 opens only as an Int64.
//
// # Load, Store and Update
//
// Load never blocks on a writer and never returns a half-written T: for a
// T of at most 8 bytes it is one atomic load of one word; for a larger T it
// reads a seqlock (below).
//
// Store and Update take the value's lock, a lock.Mutex in the value's own
// object that Locker returns (Python's get_lock()). Update(fn) reads the
// value, runs fn on a copy, and stores the copy, all under the lock: a
// read-modify-write that no Store or Update of any process can come
// between. Store takes the lock so that it cannot fall between an Update's
// read and its write, where it would be lost; it also makes seqlock writers
// take turns, which the seqlock needs. Neither is reentrant: do not call
// Store or Update while holding Locker's lock (Load is fine). The lock is
// robust: a holder that dies is replaced by the next locker within about
// 25 ms (see package lock).
//
// The atomic integers take no lock at all: Load, Store, Add, Swap,
// CompareAndSwap, And and Or are each one atomic instruction on the shared
// word, inlined into the caller, as with sync/atomic. For counters, flags
// and sequence numbers they are the fast choice; Value[int64] is for values
// that change under a lock with other state.
//
// The race detector does not see the accesses of other processes; it sees
// only this process's, through the atomic operations above.
//
// # Memory layout
//
// A value object (shm.KindValue) is at least 144 bytes. Its first 64 bytes
// are the type header that every typed object of shmkit starts with; it is
// written once by the creator before the object becomes visible.
//
//	offset      size  field        written by                   how
//	0           4     form         creator                      1 Value, 2 Int64, 3 Uint64, 4 Int32, 5 Uint32
//	4           4     align        creator                      alignment of T: 1, 2, 4 or 8
//	8           8     size         creator                      unsafe.Sizeof(T)
//	16          8     count        creator                      1
//	24          8     fingerprint  creator                      FNV-1a 64 of T's description
//	32          24    —            creator                      zero
//	56          8     check        creator                      FNV-1a 64 of bytes 0..55
//	64          8     lock         Store, Update, Locker users  robust lock word (Value only)
//	128         8     seq          writers, under the lock      atomic stores (Value, size > 8)
//	136         8     word         Store, Update / any process  atomic store (size ≤ 8: Value under the lock; integers lock-free)
//	136         S     slot 0       writers, under the lock      atomic 8-byte stores (Value, size > 8)
//	136+S       S     slot 1       writers, under the lock      atomic 8-byte stores (Value, size > 8)
//
// S is the size of T rounded up to a multiple of 8. A T of at most 4 bytes
// lives in the low-addressed 4 bytes of the word, written and read with
// 32-bit atomics; one of 5 to 8 bytes fills it with 64-bit atomics. The
// lock word and the sequence each start a cache line, so that lock waiters
// do not disturb readers. docs/layout.md gives the bytes for programs in
// other languages, and the fingerprint's grammar.
//
// # Algorithm
//
// A T over 8 bytes is kept with the latch form of a seqlock (Lameter,
// "Effective synchronization on Linux/NUMA systems", 2005; the Linux
// kernel's seqcount_latch_t): two slots each hold a whole T, and the low two
// bits of the sequence, its phase, say which slot readers use. A writer,
// holding the lock, stores seq+1 (readers move to slot 1) and writes slot
// 0; stores seq+2 (readers move to slot 0, the new value) and writes slot 1;
// then stores seq+4 (idle). A reader loads the sequence, copies the slot
// its phase names with one atomic load per word, and loads the sequence
// again; if a write step that touches that slot began meanwhile, it
// retries. All these accesses are sequentially consistent atomics, which
// is what makes the protocol correct under Go's memory model (Boehm, "Can
// seqlocks get along with programming language memory models?", 2012): a
// copy made with plain loads would be a data race, which the compiler may
// assume cannot happen.
//
// After 100 failed attempts, which only writers keeping the sequence
// moving without pause can cause, Load waits its turn on the lock and
// reads there, where no writer runs: a sequence that never settles (a
// peer writing it without the lock) costs a reader time, never a hang.
//
// The lock was the alternative for large values: Load taking the lock and
// copying. Measured with a 32-byte T on a 2-core x86-64 machine (medians
// of 5 runs), the seqlock's Load takes 8 ns alone against 18 ns for the
// lock; 31 ns against 174 ns while another process stores continuously;
// 10 ns against 103 ns while another process loads continuously, since
// seqlock readers write nothing shared. A Store costs more (74 ns for 32
// bytes: two slots, each word an atomic store), which a value read more
// often than written repays. docs/design.md has the details.
//
// # Crash behaviour
//
// A process killed with SIGKILL:
//
//   - in Load, or in any method of the atomic integers: leaves nothing
//     behind; each store is one atomic instruction;
//   - holding the lock outside a write (in Update's fn, which works on a
//     copy; or in a section of its own under Locker): the value is as
//     before. The next Store, Update or locker takes the lock over within
//     about 25 ms; LockContext on Locker's *lock.Mutex returns
//     lock.ErrOwnerDead to say so;
//   - in the middle of a seqlock write: readers are not held up and never
//     see a torn T: killed while writing slot 0, readers keep reading slot
//     1, the old value; killed while writing slot 1, slot 0, the new value.
//     The next writer takes the lock over, completes the half-written slot
//     from the whole one, and goes on. A write is thus all or nothing.
//
// # Compatibility
//
// The object layout, the form numbers, the seqlock protocol and the
// fingerprint's grammar and hash are part of layout version 1 (see
// shm.Version): changing any of them changes the version. Processes that
// share a value must agree on T's layout, which Open checks; they need not
// agree on its name.
package value

// Package array keeps fixed-length typed arrays in shared memory: Array[T],
// Python's multiprocessing.Array with its elements a zero-copy Go slice
// away, and a robust lock of its own; and List[T], a list that processes
// append to, described from the section List on.
//
// Python's Array('d', 10), filled by one process and read by another:
//
//	a, err := array.New[float64](seg, "data", 10) // ten zeros
//	...
//	a, err := array.Open[float64](seg, "data")     // in another process
//	s := a.Slice()                                 // the shared elements themselves
//	for i := range s {
//		s[i] = float64(i * i)
//	}
//
// # Types
//
// The element type follows the rules of package value: any type without
// pointers at any depth (booleans, numbers, and arrays and structs of
// those); New and Open refuse others with an error wrapping
// ErrUnsupportedType that names the offending field. The object records the
// element type's size, alignment and fingerprint, and the length; Open[T]
// checks them and returns shm.ErrWrongKind, saying what differs, for an
// array created for another element type. The same layout under another
// type name matches (see package value).
//
// # Access
//
// The elements are contiguous, each at a multiple of its size from a
// 64-byte-aligned start, exactly as in a Go array, so Slice's []T can be
// handed to any code that takes a slice: a []float64 view goes straight to
// numeric routines, at the speed of ordinary memory.
//
//   - Slice returns the view. Its reads and writes are plain memory
//     accesses: order them between processes with the lock or with another
//     primitive, as with any memory shared by goroutines.
//   - At and Set index one element, checked against Len: an index out of
//     range panics as indexing a slice does, with a message of the same
//     shape ("array: index out of range [5] with length 3"). For a 4- or
//     8-byte T they are one atomic load or store, so they never see or
//     leave half an element; for other sizes they are plain copies. They do
//     not take the lock, so they can be used while holding it.
//   - Update(fn) runs fn on the view under the array's lock, excluding
//     every other Update and locked section of every process; Locker
//     returns that lock (Python's get_lock()), a *lock.Mutex.
//
// The race detector does not see the accesses of other processes.
//
// # Memory layout
//
// An array object (shm.KindArray) of n elements of T takes 128 + n × S
// bytes, S = unsafe.Sizeof(T). Its header is the type header of every typed
// object of shmkit (see package value), written once by the creator before
// the object becomes visible.
//
//	offset  size   field        written by                  how
//	0       4      form         creator                     1 (an array)
//	4       4      align        creator                     alignment of T: 1, 2, 4 or 8
//	8       8      size         creator                     S
//	16      8      count        creator                     n
//	24      8      fingerprint  creator                     FNV-1a 64 of T's description
//	32      24     —            creator                     zero
//	56      8      check        creator                     FNV-1a 64 of bytes 0..55
//	64      8      lock         Update, Locker users        robust lock word
//	128     n × S  elements     any process                 Slice, At, Set, Update
//
// Open checks the header in the order form, alignment and size, bounds
// (n × S must fit in the object, and n in an int), checksum, and reports a fault as
// shm.ErrCorrupt in a *shm.Error naming the field; only then does it compare
// the type. docs/layout.md gives the bytes for programs in other languages.
//
// # Algorithm
//
// There is none beyond the robust lock (package lock) and the atomic
// element accesses: an Array is memory and a lock. Update does not copy
// the elements, which may be gigabytes; it hands fn the elements
// themselves.
//
// # Crash behaviour
//
// A process killed with SIGKILL:
//
//   - outside Update and the lock: leaves nothing behind but the elements it
//     wrote (an At or Set of a 4- or 8-byte element is all or nothing);
//   - inside Update, or holding Locker's lock: the elements are as it left
//     them, possibly half-updated, since Update works in place. The next
//     Update or locker takes the lock over within about 25 ms;
//     LockContext on Locker's *lock.Mutex returns lock.ErrOwnerDead, so a
//     program whose updates must be all or nothing can check and repair the
//     elements before going on.
//
// # Compatibility
//
// The object layout and its form number are part of layout version 3 (see
// shm.Version). Processes that share an array must agree on the element
// type's layout, which Open checks; they need not agree on its name.
//
// # List
//
// A List[T] is a list of T that grows by appending, up to a capacity fixed
// when it is made: Python's Manager().list() for results that workers
// append, with the elements a Go slice away:
//
//	results, err := array.NewList[Result](seg, "results", 1_000_000)
//	...
//	results, err := array.OpenList[Result](seg, "results") // in a worker
//	i, err := results.Append(r)                            // r is results.At(i)
//	...
//	for _, r := range results.Slice() { ... }               // the elements so far
//
// The element type follows the rules of Array. Append returns the index it
// wrote; appends of any number of processes get distinct indices and lose
// nothing; shm.ErrNoSpace says the list is full. Extend appends several
// elements, all or none. At and Set index the elements below Len (an index
// at or beyond it panics, as for Array); Slice returns them as a []T of
// length Len, over the shared memory; Truncate shortens the list.
//
// # List memory layout
//
// A list object (shm.KindList) of capacity n takes 192 + n × S bytes, S =
// unsafe.Sizeof(T). Its header is the type header of Array, written once
// by the creator before the object becomes visible.
//
//	offset  size   field      written by                  how
//	0       64     header     creator                     type header: form 1 (a list), count = capacity n
//	64      8      lock       Append, Extend, Truncate    robust lock word
//	72      56     —          —                           zero
//	128     8      len        Append, Extend, Truncate    atomic store, under the lock
//	136     56     —          —                           zero
//	192     n × S  elements   Append and Extend (at len   element i at 192 + i × S
//	                          and beyond), Set (below it)
//
// Open checks the header as Array's (form, alignment and size, bounds,
// checksum). A len above the capacity, which only a peer scribbling can
// write, reads as the capacity; Append reports it as shm.ErrCorrupt in a
// *shm.Error naming the field, and Truncate stores a good one.
//
// # List algorithm
//
// An append takes the lock, loads len, writes its elements at len and
// beyond (where no reader looks), and stores len plus their number, which
// publishes them: a release store that readers load with an acquire (Len,
// At, Slice), so they see the elements complete. Truncate takes the lock
// and stores a smaller len.
//
// A lock-free append (fetch-and-add on a reservation counter, then a
// per-element commit flag) was the alternative. It leaves a hole where a
// process dies between reserving an index and committing it: Len must then
// either cover an element that was never written or stop at the hole, and
// someone must find the dead reserver and fill the hole. With the lock,
// reserving the index and committing the element are one store: Len never
// covers an unwritten element, and a dead appender's index is simply given
// to the next. Appends take turns either way (the reservation counter is
// one cache line, as the lock is); the lock costs a compare-and-swap more.
//
// # List crash behaviour
//
// A process killed with SIGKILL:
//
//   - in Append or Extend before the store of len: the list is as it was;
//     the element is not in it, and its index goes to the next Append,
//     which takes the dead process's lock over within about 25 ms and
//     writes over the half-written element;
//   - after that store: the elements are in the list (Extend: all of them);
//   - in Truncate: the list is as long as it was, or as short as asked;
//   - in Set, or reading: as for Array (a Set of a 4- or 8-byte element is
//     all or nothing).
//
// # List compatibility
//
// The list's layout and its form number are part of layout version 3 (see
// shm.Version). Processes that share a list must agree on the element
// type's layout, which OpenList checks.
package array

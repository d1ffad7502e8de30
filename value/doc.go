// Package value keeps typed values in shared memory: Value[T], a T of any
// fixed-size type without pointers that carries a robust lock of its own
// (Python's multiprocessing.Value), and Int64, Uint64, Int32 and Uint32,
// lock-free atomic integers (sync/atomic's, between processes); and Map
// and BytesMap, hash maps that many processes read and write (Python's
// Manager().dict()), described from the section Map on.
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
// fingerprint's grammar and hash are part of layout version 3 (see
// shm.Version): changing any of them changes the version. Processes that
// share a value must agree on T's layout, which Open checks; they need not
// agree on its name.
//
// # Map
//
// A Map[K, V] is a hash map in a segment, Python's Manager().dict() with
// the data in shared memory instead of in a server process, so that an
// access costs a lock and a lookup (tens of nanoseconds) instead of a round
// trip through a socket (tens of microseconds):
//
//	counts, err := value.NewMap[uint32, int64](seg, "counts", 10_000)
//	...
//	counts, err := value.OpenMap[uint32, int64](seg, "counts") // in another process
//	err = counts.Update(7, func(n int64, _ bool) (int64, bool) { return n + 1, true })
//	n, ok, err := counts.Get(7)
//
// Keys and values are byte strings in the map. NewMap's K and V are
// fixed-size types without pointers (those of Value), stored as their
// bytes: Get and Put copy them with no codec and no allocation, and the map
// records the layout of struct{Key K; Value V}, which OpenMap checks.
// NewMapWith takes a Codec for each side instead (StringCodec, BytesCodec,
// JSONCodec, FixedCodec, or one's own), for strings, slices and structs
// with pointers. BytesMap is the map of byte strings itself, with a Get
// that copies into the caller's buffer.
//
// The capacity is fixed at creation, in entries and in bytes of keys and
// values (MapOptions). A Put that would go beyond either returns an error
// wrapping shm.ErrNoSpace and changes nothing; one that stays within both
// never does, whatever was put and deleted before: a deleted entry's space
// is reused at once, and cannot fragment. A map never grows: its object
// keeps the size it was created with.
//
// Get, Len, Range and Snapshot share the map's read lock, a lock.RWMutex in
// the map's own object: readers of any number of processes (up to
// lock.RWMutexReaders at a time) do not block each other. Put, Delete,
// Update and Clear take it for writing, one at a time; each is atomic.
// Update(k, fn) is the read-modify-write: fn gets the current value and
// returns the new one, under the write lock, so that no other writer comes
// between. Range copies a batch of entries under the read lock and calls
// its function without it (each key present throughout is seen once, as in
// Go's map iteration); Snapshot copies the whole map under one read lock.
//
// Every index, offset and length read from the map's memory is checked
// before it is used, and every walk is bounded: a peer that scribbles on
// the map makes operations return shm.ErrCorrupt, in a *shm.Error that
// names the object and the field, never a panic, a read out of bounds or a
// hang. Clear rebuilds a damaged map, empty.
//
// # Map memory layout
//
// A map object (shm.KindMap) of E entries, B bytes and entries of at most
// M bytes has NB buckets (E rounded up to a power of two) and N chunks of
// 64 bytes. Its header and geometry are written once by the creator, before
// the object becomes visible; the rest is written under the write lock.
//
//	offset  size      field       written by                 how
//	0       64        header      creator                    type header: form 1 (byte strings) or 2 (NewMap), count E
//	64      576       lock        readers and writers        lock.RWMutex (RWMutexAt)
//	640     8         bytes       creator                    B
//	648     8         max_entry   creator                    M
//	656     4         buckets     creator                    NB
//	660     4         chunks      creator                    N
//	664     8         seed        creator                    hash seed, drawn at random
//	672     24        —           creator                    zero
//	696     8         geo_check   creator                    FNV-1a 64 of bytes 640..695
//	704     4         dirty       writers                    atomic: 1 while a writer changes the table
//	708     4         count       writers                    live entries
//	712     8         used        writers                    bytes of live keys and values
//	720     4         free        writers                    first chunk of the free list, 0 if none
//	724     4         free_count  writers                    chunks on the free list
//	728     8         repairs     repairers                  repairs made after a writer died
//	736     32        —           —                          zero
//	768     4·NB      buckets     writers                    first entry of each chain (a chunk number, 0: none)
//	L       4·(N+1)   links       writers                    per chunk: the next chunk of its entry, or of the free list
//	C       64·(N+1)  chunks      writers                    the entries; chunk 0 is unused
//
// L is 768 + 4·NB, and C is L + 4·(N+1), each rounded up to 64. An entry
// is a head chunk, holding next (the next entry of its chain), tag (the
// high 32 bits of the key's hash), klen and vlen (4 bytes each), then 48
// bytes of data; and as many more chunks, linked in links, as its data
// needs: the key, then the value, 64 bytes a chunk. N is
// min(E·c(M), ⌊(79·E + B)/64⌋) + c(M), where c(n) = 1 + ⌈max(0, n−48)/64⌉
// is the chunks an entry of n bytes takes: enough for any E entries of B
// bytes in all, beside one more entry of M bytes (a Put that replaces an
// entry writes the new one before it frees the old). docs/layout.md gives
// the bytes, and the hash, for programs in other languages.
//
// # Map algorithm
//
// The table is a chained hash table (Knuth, TAOCP vol. 3, §6.4) with a
// bucket count fixed at creation, so it never rehashes and an entry never
// moves; the entries live in an arena of equal chunks on a free list (a
// fixed-size-block allocator, Knuth §2.5, whose links are kept apart from
// the data as in a FAT file system), so that freed space serves any later
// entry. The hash is a multiply-fold hash of the wyhash family over 64-bit
// words, seeded per map at random, so that keys that share a bucket cannot
// be chosen without reading the map.
//
// A Get hashes the key, takes the read lock, checks the dirty word, walks
// the bucket's chain comparing tags and lengths, then keys, and copies the
// value out. A write, holding the write lock:
//
//	W1. stores dirty = 1;
//	W2. pops the chunks the new entry needs from the free list and writes
//	    the entry into them; nothing links to it yet;
//	W3. publishes it with one atomic store of its chunk number into the
//	    word that linked the old entry or ended the chain (the bucket, or
//	    the previous entry's next); a Delete stores the old entry's next;
//	W4. pushes the old entry's chunks onto the free list;
//	W5. stores count and used, then dirty = 0.
//
// W3 is the only store that changes what a chain holds, and it links only
// complete entries, so every chain is always made of whole entries: the
// table a dead writer leaves is readable as it is. What it may leave
// wrong is the rest: chunks on neither a chain nor the free list, a
// half-pushed free list, stale counts, and the dirty mark. Under the read
// lock no writer runs, so a reader that finds dirty set knows a writer
// died: it takes the write lock and repairs, as does a writer that finds
// it set or gets lock.ErrOwnerDead. The repair walks every chain, checking
// each entry and marking its chunks, then rebuilds the free list from the
// unmarked chunks and the counts from the chains (a mark-and-sweep, in
// O(NB + N)), and clears the mark.
//
// # Map crash behaviour
//
// A process killed with SIGKILL:
//
//   - in Get, Len, Range or Snapshot: nothing changes; the RWMutex frees its
//     read hold when a writer waits for it;
//   - in Put, Delete or Update after W1 and before W3: the key keeps its
//     old value (Put) or stays (Delete); the next process to lock the map,
//     reader or writer, waits for the lock to notice the death (about 25
//     ms), repairs, and the new entry's chunks are free again;
//   - from W3 to W5: the key has its new value, or is gone; the repair
//     frees the old entry's chunks and sets the counts right;
//   - in Update's fn: nothing changes (fn works on a copy); the next writer
//     takes the lock over;
//   - in Clear: the buckets already emptied are empty, the others keep their
//     entries, each whole; the repair makes the rest consistent;
//   - in a repair: the dirty mark stays, and the next locker repairs again.
//
// So every key has its old or its new value, never anything else, and no
// space is lost. A repair costs a walk of the table: 2.3 ms for a map of
// 100 000 entries on a 2-core x86-64 VM (BenchmarkMapRepair).
//
// # Map compatibility
//
// The map's layout, its form numbers, the entry and chunk format, the hash
// function, the write protocol and the meaning of the dirty word are part
// of layout version 3 (shm.Version). A reader accepts any geometry at least
// as large as the formula above gives, so a creator may be more generous.
// Processes that share a map of NewMap must agree on the layout of K and V,
// which OpenMap checks; a map of byte strings records no types, and every
// process must use the same codecs.
package value

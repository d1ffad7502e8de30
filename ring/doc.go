// Package ring moves messages between processes through shared memory: an
// SPSC byte ring for one producer and one consumer (with zero-copy sends and
// receives), a bounded MPMC Queue for any number of producers and
// consumers, and a duplex Pipe (Conn) — Python's multiprocessing Queue and
// Pipe, without pickling, sockets or system calls on the fast path.
//
//	seg, _ := shm.CreateAnon(1 << 20)
//	q, _ := ring.NewQueue(seg, "jobs", ring.QueueOptions{Slots: 256, SlotSize: 128})
//	// give seg to workers (spawn.Options.Segments); each calls
//	// ring.OpenQueue(seg, "jobs") and q.Recv(ctx, buf) until ErrClosed
//	q.Send(ctx, []byte("job 1"))
//	q.Close() // workers drain, then get ErrClosed
//
// Every kind has Send, TrySend, Recv, TryRecv, Close and Len (the Messenger
// interface); Recv appends to the buffer it is given, so a receive loop
// allocates nothing. Blocking calls spin briefly, then sleep on a futex, and
// honour their context. Compress wraps any of them to compress large
// messages.
//
// # Memory layout
//
// docs/layout.md has the byte-level specification. In brief:
//
// An SPSC ring (shm.KindSPSC) is a 320-byte header of five cache lines, then
// the data area, whose size Cap is a power of two:
//
//	offset  size  field       written by                how
//	0       4     magic       creator                   "SPSC"
//	8       8     capacity    creator                   data bytes
//	16      4     closed      any process               atomic store of 1
//	24      8     producer    first sender              CAS of its identity
//	32      8     consumer    first receiver            CAS of its identity
//	64      8     tail        producer                  plain store after each commit
//	72      8     sent        producer                  plain store
//	128     8     head        consumer                  atomic store: frees space
//	136     8     received    consumer                  plain store
//	192     4+4   data seq, data wait    (consumer sleeps here)
//	256     4+4   space seq, space wait  (producer sleeps here)
//	320     Cap   records
//
// A record is an 8-byte header (payload length, a committed bit, a skip bit,
// a pad of 0 to 7 words, and the low 16 bits of its lap number), the pad,
// the payload, and padding to 8 bytes. Records of AlignFrom bytes or more
// are padded so that their payload starts a cache line. Stream positions
// (tail, head) count bytes from the ring's creation; a record lives at
// position mod Cap and is always contiguous: one that does not fit before
// the end is preceded by a skip record, and the rest of the lap is unused.
//
// A Queue (shm.KindQueue) is a 384-byte header (slot count and size, closed
// flag, the enqueue and dequeue positions and the two wait pairs each on its
// own cache line, and a lost-message counter), then Slots slots of a
// 24-byte header (a state word, a claim word, the length) and SlotSize
// bytes, rounded up to a multiple of 64. With a SlotSize of AlignFrom or
// more, the message starts at byte 64 of its slot instead of 24.
//
// A Pipe (shm.KindPipe) is a 64-byte header (magic, capacity, the identities
// of the processes holding end 0 and end 1) and two SPSC rings, one each
// way.
//
// # Algorithm
//
// SPSC. The producer writes a record's payload, clears the header word that
// follows it (so that the consumer, reading on, stops there), and publishes
// the record by storing its header with a release store. The consumer reads
// headers, never the producer's index: it finds each record on the cache
// lines it reads anyway. The producer knows the consumer's position from a
// cached copy of head, re-read only when the cached value says the ring is
// too full (Rigtorp's cached indexes); when it then has to wait, it waits
// on, for at most 20 µs, until a sixteenth of the ring is free, so that a
// full ring is refilled in chunks rather than a record at a time, which
// would keep the two processes pulling head's cache line from each other.
// The consumer slips too: one that has received several messages since it
// last waited and finds the ring empty has caught up with a streaming
// producer, and while the producer keeps publishing fast it stays off the
// ring, watching only the producer's tail word, until the producer is up
// to 64 KiB ahead (20 µs at most), instead of polling the cache line the
// producer is writing. SendBatch writes a batch's
// records with plain stores and publishes them all with the one store of
// its first header; RecvBatch releases all it read with one store of head.
//
// Waiting follows the Dekker pattern on a flag and a futex word: a waiter
// sets the flag, re-checks, and sleeps; the other side, after its
// publication, loads the flag and, only if it is set, clears it and wakes.
// So streaming makes no system call, and a waiter killed asleep leaves
// behind at most one needless wake. The pattern needs a full memory barrier
// between each side's store and its load. The publishing side, which runs
// once per message, does without one: on Linux/amd64 it publishes with a
// plain store, and the waiter, before its last check, makes every CPU
// running a publisher execute the barrier for it with membarrier(2)
// (MEMBARRIER_CMD_GLOBAL_EXPEDITED), a system call it pays only when it is
// about to sleep anyway. Where membarrier is unavailable the publisher
// falls back to a sequentially consistent store.
//
// Queue. Vyukov's bounded MPMC queue (1024cores.net, 2010), with each slot's
// state word holding (position, state, pid) so that a slot is claimed by
// one compare-and-swap that also records who claimed it: free(p) →
// writing(p) → ready(p) → reading(p) → free(p + Slots). Producers and
// consumers advance the shared positions after claiming, and help each
// other advance them. Slots are published and freed with the same release
// stores, and waiters use the same flag protocol and barrier as SPSC, with
// wake-all: an idle consumer pool wakes together when work arrives. On
// amd64 processors with PREFETCHW, a producer prefetches, for writing, the
// state line of the slot two positions ahead, which a consumer on another
// core wrote last; without it, every send waited for that line to cross
// between the cores.
//
// # Crash behaviour
//
// A process killed at any instant leaves every ring usable:
//
//   - SPSC producer killed: the consumer receives every committed record,
//     then, waiting for more, gets ErrPeerDied (within 25 ms of sleeping).
//     A half-written record was never committed and is never seen. Another
//     process may take over the producer's role and continue the stream.
//   - SPSC consumer killed: the producer, waiting for space, gets
//     ErrPeerDied. A new consumer starts at the last released position: a
//     message the dead consumer had peeked but not released is delivered
//     again.
//   - Queue producer killed between claiming a slot and publishing it: the
//     consumer waiting at that slot checks the claimer's pid and start time
//     after 25 ms, skips the slot, and counts the message in Lost. (A
//     claimer killed in the few instructions before it records its start
//     time is checked by pid alone: its slot is skipped once no process
//     has that pid.) Queue
//     consumer killed while reading: the producer that laps round to the
//     slot frees it the same way. Nothing else is lost: at most the one
//     message the dead process held, and Lost counts it.
//   - Pipe: as SPSC; a Recv whose peer died gets an error matching both
//     io.EOF and ErrPeerDied once the peer's messages are received, like
//     Python's EOFError. A process may open end 1 again once its holder has
//     died.
//
// Everything read from shared memory is validated before use: a damaged
// record header, slot state or length gives shm.ErrCorrupt, never an
// out-of-bounds access or a hang beyond the caller's context.
//
// # Compatibility
//
// The layouts are version 3 of the segment layout (shm.Version); the magic
// numbers and the record and slot encodings never change within a version.
//
// # Choosing
//
// SPSC for one-to-one streams and the fastest zero-copy path; Queue for
// work distribution among many processes (fixed-size slots, per-message
// overhead about twice SPSC's); Pipe for request/response between two
// processes. go test -bench . ./ring measures all three beside os.Pipe,
// unix sockets and Go channels on your machine.
//
// A record that wraps round the end of an SPSC ring waits for the consumer
// to pass the end, so a single goroutine that both sends and receives can
// deadlock on messages over Cap()/2-16 bytes; give each side its own
// goroutine, or use TrySend.
package ring

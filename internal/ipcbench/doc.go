// Package ipcbench holds what shmkit's benchmarks and its bench tool share:
// every mechanism they measure, one measurement loop per pattern, and a
// latency histogram.
//
// A mechanism ([Mech]) moves messages between two sides: side A is the
// measuring process (the benchmark or the tool), side B a peer process
// started with spawn, or a goroutine of the same process for the Go channel
// baseline. The shmkit mechanisms (SPSC ring copying and zero-copy, Queue,
// Pipe, Mutex handoff, Semaphore and Event ping-pong) are measured beside
// baselines written here: raw shared-memory atomic and futex ping-pongs (the
// floors for spinning and for sleeping), pipe(2), unix stream and seqpacket
// sockets, TCP over 127.0.0.1, eventfd, and Go channels.
//
// Two patterns, each with one loop shared by every mechanism:
//
//   - round trip ([StartRoundTrip], [MeasureRoundTrips]): side A sends a
//     message, side B sends it back; every round trip is one histogram sample,
//     timed between consecutive reads of the monotonic clock (one clock read
//     per round trip, the same for every mechanism);
//   - stream ([StartStream], [MeasureStream]): side B (N producers for the
//     N→N Queue) sends n messages as fast as it can, side A receives them;
//     the time runs from the go signal to the last message received.
//
// Fairness rules every mechanism follows: the sender writes each message from
// its own buffer into the transport (one copy, as write(2) makes); a copying
// receiver copies it into its own buffer, a zero-copy one reads it in place;
// every transport has a buffer of at least 1 MiB or four messages (pipes and
// sockets are asked for 1 MiB; the kernel may cap it); the fd baselines use
// blocking system calls directly, as C would, not Go's netpoller, so they are
// the kernel's best case; each side's work is one goroutine, whose thread is
// pinned when the caller asks for CPUs.
package ipcbench

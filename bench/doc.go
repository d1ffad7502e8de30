// Command bench measures what inter-process communication costs on this
// machine: shmkit's rings, locks, semaphores and events side by side with
// raw shared memory, pipes, sockets, eventfd and Go channels, in one run,
// under the same rules.
//
//	go run ./bench                      # the table, in about a minute
//	go run ./bench -svg bench.svg       # and a chart
//	go run ./bench -mech spsc,unix -sizes 64,64K -duration 1s -reps 5
//	go run ./bench -list                # the mechanisms
//
// # What it measures
//
// Two patterns, each between two processes (side A, the measuring process,
// and side B, a peer started with shmkit's spawn), for message sizes from 8
// bytes to 1 MiB, and size 0 for the signals that carry no payload:
//
//   - round trip: A sends a message, B sends it back. Every round trip is one
//     sample in its repetition's histogram (log-linear buckets, within 0.4%);
//     the table shows the 50th, 99th and 99.9th percentiles, each the median
//     over the repetitions, and the maximum of all, in µs. (A repetition that
//     ran fast made more round trips: pooling the samples would let it
//     outweigh the others. The JSON has the pooled percentiles too.)
//   - stream: B sends messages as fast as it can, A receives them; the table
//     shows messages and megabytes (10⁶ bytes) per second.
//
// shmkit: the SPSC ring copying (spsc) and zero-copy (spsc-zc), the Queue
// one to one (queue) and N to N where the machine has the cores (queue-NxN),
// the duplex Pipe (pipe), a Mutex handoff, Semaphore and Event ping-pong.
// Baselines: raw shared memory polled by both sides (atomic, the floor for
// busy waiting) or slept on with a futex (futex, the floor for blocking),
// eventfd, pipe(2), unix stream and seqpacket sockets, TCP over 127.0.0.1, and
// Go channels between two goroutines of one process (chan). -list says what
// each does per message.
//
// # How to read the table
//
// Rows are grouped by size. The "vs fastest baseline" column is the row's
// speed relative to the fastest baseline's (that baseline's p50 divided by
// the row's for round trips, the row's messages per second divided by the
// baseline's for streams), so 2.0× means twice as fast and 0.5× half as
// fast; "vs fastest kernel" does the same against the fastest of the
// mechanisms that go through the kernel (pipes, sockets, eventfd): what a
// program would use without shared memory. The "of reps" column is the
// lowest and the highest repetition's p50 (or messages per second): a wide
// range means the machine was noisy or the mechanism behaves differently
// from run to run, and the figure deserves a longer run. The JSON has the
// spread as a percentage too.
//
// Marks: * a mechanism that spins while it waits (atomic always; shmkit's
// for up to tens of µs before it sleeps) with no CPU to spare for anything
// else, so other load preempts it; ! more processes than CPUs; ~ fewer than
// 1000 samples, so p99.9 is about the maximum.
//
// # Fairness
//
// Every mechanism runs under the same rules: the same sizes, the same
// placement (-cpu pins side A to the first CPU and side B to the second, or
// both to one; unpinned, the kernel decides), the same loop (one monotonic
// clock read per round trip; streams timed from the go signal to the last
// message received), a warm-up before each measurement, and buffers of at
// least 1 MiB or four messages. The sender writes each message into the
// transport from its own buffer; a copying receiver copies it out, a
// zero-copy one (spsc-zc) reads it in place. Pipes and sockets use blocking
// system calls directly, as C would, not Go's netpoller: the baselines get
// the kernel's best case.
//
// Repetitions are interleaved: the first repetition of every case, then the
// second, so that a burst of other load lands on one repetition of many cases
// rather than on every repetition of one. Each repetition starts fresh
// processes. Each repetition's percentiles come from all of its samples, and
// the table shows their median; the header reports the machine, the load
// average and the CPU time other processes used during the run.
//
// # Output
//
// -json FILE writes every figure (per result: mechanism, pattern, size,
// samples, percentiles, throughput, each repetition, spread, ratios, notes;
// and the machine and the configuration); -json - writes it to standard
// output instead of the table. -svg FILE draws latency percentiles on a log
// scale and throughput against message size.
//
// The same cases run as Go benchmarks, for benchstat:
//
//	go test -run '^$' -bench . -count 10 ./bench
package main

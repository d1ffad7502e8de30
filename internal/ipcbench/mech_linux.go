package ipcbench

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
)

// Pattern is what a measurement does with a mechanism.
type Pattern string

// The patterns.
const (
	// PatternRoundTrip is ping-pong: side A sends a message and waits for
	// side B to send it back. Figures: latency percentiles of every round trip.
	PatternRoundTrip Pattern = "roundtrip"
	// PatternStream is one-way throughput: side B sends messages as fast as
	// it can and side A receives them. Figures: messages and bytes per second.
	PatternStream Pattern = "stream"
)

// Family says whether a mechanism is shmkit's or a baseline.
type Family string

// The families.
const (
	Shmkit   Family = "shmkit"
	Baseline Family = "baseline" // written here, to compare with
)

// Waiting is how a mechanism waits for the other side.
type Waiting string

// The ways of waiting.
const (
	Spins    Waiting = "spin"     // busy-polls, never sleeps
	Adaptive Waiting = "adaptive" // spins up to tens of µs, then sleeps on a futex
	Sleeps   Waiting = "sleep"    // sleeps in the kernel at once
	GoSched  Waiting = "runtime"  // parks the goroutine (Go scheduler)
)

// Mechanism names, as they appear in benchmark names (mech=NAME), in the
// tool's table and in its -mech flag.
const (
	SPSC       = "spsc"
	SPSCZC     = "spsc-zc"
	SPSCBatch  = "spsc-batch"
	Queue      = "queue"
	Pipe       = "pipe"
	Mutex      = "mutex"
	Semaphore  = "semaphore"
	Event      = "event"
	Atomic     = "atomic"
	Futex      = "futex"
	EventFD    = "eventfd"
	OSPipe     = "ospipe"
	Unix       = "unix"
	UnixPacket = "unixpacket"
	TCP        = "tcp"
	Chan       = "chan"
)

// Mech describes a mechanism: what it is, which patterns and message sizes it
// supports, and how it waits.
type Mech struct {
	Name   string
	Family Family
	// Kernel is true for baselines whose messages go through the kernel
	// (pipes, sockets, eventfd): what a program would use without shared
	// memory.
	Kernel bool
	About  string  // one line: what a round trip or a message does
	Waits  Waiting // how a side waits for the other
	// Patterns lists the patterns the mechanism supports.
	Patterns []Pattern
	// MinSize and MaxSize bound the message size in bytes. Size 0 means a
	// signal with no payload: the locks, semaphores and events carry nothing
	// else (MaxSize 0), and some baselines carry either.
	MinSize, MaxSize int
	// InProcess is true when side B is a goroutine of side A's process.
	InProcess bool
	// Producers and Consumers are the processes on each side of a stream
	// (1 and 1 but for the N→N Queue).
	Producers, Consumers int
	// Default is false for mechanisms run only when asked for by name.
	Default bool

	impl *impl
}

// Supports reports whether the mechanism can run pattern p with size-byte
// messages.
func (m Mech) Supports(p Pattern, size int) bool {
	ok := false
	for _, q := range m.Patterns {
		ok = ok || q == p
	}
	if !ok || size < m.MinSize || size > m.MaxSize {
		return false
	}
	return p != PatternStream || size > 0
}

// Procs returns how many processes (or, in process, threads) are running a
// side of pattern p: 2, or producers + consumers for a stream.
func (m Mech) Procs(p Pattern) int {
	if p == PatternStream {
		return m.Producers + m.Consumers
	}
	return 2
}

// Unlimited is the MaxSize of mechanisms that carry messages of any size.
const Unlimited = 1 << 40

var (
	roundTrip = []Pattern{PatternRoundTrip}
	both      = []Pattern{PatternRoundTrip, PatternStream}
	stream    = []Pattern{PatternStream}
)

// mechs is the registry in display order: shmkit first, then the baselines
// from the floors up.
var mechs = []Mech{
	{Name: SPSC, Family: Shmkit, Waits: Adaptive, Patterns: both, MinSize: 1, MaxSize: Unlimited, Default: true,
		About: "ring.SPSC Send/Recv: a copy into the ring, a copy out"},
	{Name: SPSCZC, Family: Shmkit, Waits: Adaptive, Patterns: both, MinSize: 1, MaxSize: Unlimited, Default: true,
		About: "ring.SPSC zero-copy: Reserve/Commit, Peek/Release; the sender writes in place, the receiver reads in place"},
	{Name: SPSCBatch, Family: Shmkit, Waits: Adaptive, Patterns: stream, MinSize: 1, MaxSize: 4096,
		About: "ring.SPSC SendBatch/RecvBatch, 32 messages a batch"},
	{Name: Queue, Family: Shmkit, Waits: Adaptive, Patterns: both, MinSize: 1, MaxSize: Unlimited, Default: true,
		About: "ring.Queue (MPMC), one producer, one consumer, slots of the message size"},
	{Name: Pipe, Family: Shmkit, Waits: Adaptive, Patterns: both, MinSize: 1, MaxSize: Unlimited, Default: true,
		About: "ring.Conn from ring.NewPipe: Send/Recv"},
	{Name: Mutex, Family: Shmkit, Waits: Adaptive, Patterns: roundTrip, Default: true,
		About: "lock.Mutex hand-offs: three mutexes in rotation, each side locking the one the other releases"},
	{Name: Semaphore, Family: Shmkit, Waits: Adaptive, Patterns: roundTrip, Default: true,
		About: "semaphore: release one, acquire the other"},
	{Name: Event, Family: Shmkit, Waits: Adaptive, Patterns: roundTrip, Default: true,
		About: "event: set one, wait for and clear the other"},
	{Name: Atomic, Family: Baseline, Waits: Spins, Patterns: roundTrip, MaxSize: Unlimited, Default: true,
		About: "shared buffer and one word both sides poll: the floor for busy waiting"},
	{Name: Futex, Family: Baseline, Waits: Sleeps, Patterns: roundTrip, MaxSize: Unlimited, Default: true,
		About: "shared buffer and one futex word, always sleeping: the floor for blocking"},
	{Name: EventFD, Family: Baseline, Kernel: true, Waits: Sleeps, Patterns: roundTrip, MaxSize: 8, Default: true,
		About: "two eventfds; the 8-byte counter carries the message"},
	{Name: OSPipe, Family: Baseline, Kernel: true, Waits: Sleeps, Patterns: both, MinSize: 1, MaxSize: Unlimited, Default: true,
		About: "pipe(2), one each way, blocking read/write"},
	{Name: Unix, Family: Baseline, Kernel: true, Waits: Sleeps, Patterns: both, MinSize: 1, MaxSize: Unlimited, Default: true,
		About: "unix stream socketpair, blocking read/write"},
	{Name: UnixPacket, Family: Baseline, Kernel: true, Waits: Sleeps, Patterns: both, MinSize: 1, MaxSize: 1 << 20, Default: true,
		About: "unix seqpacket socketpair (message boundaries kept)"},
	{Name: TCP, Family: Baseline, Kernel: true, Waits: Sleeps, Patterns: both, MinSize: 1, MaxSize: Unlimited, Default: true,
		About: "TCP over 127.0.0.1, TCP_NODELAY, blocking read/write"},
	{Name: Chan, Family: Baseline, Waits: GoSched, Patterns: both, InProcess: true, MaxSize: Unlimited, Default: true,
		About: "Go channels between two goroutines of one process, a copy on each side"},
}

func init() {
	for i := range mechs {
		m := &mechs[i]
		m.impl = impls[m.Name]
		if m.Producers == 0 {
			m.Producers, m.Consumers = 1, 1
		}
	}
}

// Mechs returns every mechanism in display order: those run by default, and
// those run only when asked for by name. The N→N Queue (queue-NxN) is
// included, with N = GOMAXPROCS/2 up to 4, when GOMAXPROCS is at least 4.
func Mechs() []Mech {
	out := append([]Mech(nil), mechs...)
	if n := min(runtime.GOMAXPROCS(0)/2, 4); n >= 2 {
		m, _ := Lookup(fmt.Sprintf("queue-%dx%d", n, n))
		m.Default = true
		// After the 1→1 Queue.
		for i := range out {
			if out[i].Name == Queue {
				out = append(out[:i+1], append([]Mech{m}, out[i+1:]...)...)
				break
			}
		}
	}
	return out
}

// Lookup returns the mechanism called name. Besides the registry's names it
// accepts queue-PxC: a stream through one Queue from P producer processes to
// C consumer processes (1 ≤ P, C ≤ 64).
func Lookup(name string) (Mech, bool) {
	for _, m := range mechs {
		if m.Name == name {
			return m, true
		}
	}
	if rest, ok := strings.CutPrefix(name, Queue+"-"); ok {
		ps, cs, ok := strings.Cut(rest, "x")
		p, err1 := strconv.Atoi(ps)
		c, err2 := strconv.Atoi(cs)
		if ok && err1 == nil && err2 == nil && p >= 1 && c >= 1 && p <= 64 && c <= 64 {
			return Mech{
				Name: name, Family: Shmkit, Waits: Adaptive, Patterns: stream, MinSize: 1, MaxSize: Unlimited,
				About:     fmt.Sprintf("ring.Queue (MPMC), %d producer and %d consumer processes", p, c),
				Producers: p, Consumers: c, impl: impls[Queue],
			}, true
		}
	}
	return Mech{}, false
}

// Baselines lists the round-trip baselines in the order benchmarks run them.
var Baselines = []string{Atomic, Futex, EventFD, OSPipe, Unix, UnixPacket, TCP, Chan}

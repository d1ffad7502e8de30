package shm

import "strconv"

// Kind identifies what an object in a segment's directory holds. The kinds
// of shmkit's own packages are listed here so that their numbers never
// collide; programs that build their own objects with Alloc use kinds from
// KindUser up.
type Kind uint32

// Object kinds. Their numbers are part of the layout (docs/layout.md) and
// never change.
const (
	KindBytes     Kind = 1  // raw bytes: NewBytes
	KindMutex     Kind = 2  // lock.Mutex
	KindRWMutex   Kind = 3  // lock.RWMutex
	KindCond      Kind = 4  // lock.Cond
	KindSemaphore Kind = 5  // semaphore.Semaphore
	KindEvent     Kind = 6  // event.Event
	KindBarrier   Kind = 7  // event.Barrier
	KindValue     Kind = 8  // value.Value[T] and the atomic integers
	KindArray     Kind = 9  // array.Array[T]
	KindSPSC      Kind = 10 // ring.SPSC
	KindQueue     Kind = 11 // ring.Queue
	KindPipe      Kind = 12 // ring.Conn (a duplex pipe)
	KindMap       Kind = 13 // value.Map
	KindList      Kind = 14 // array.List
	KindLog       Kind = 15 // spawn's log forwarding ring

	// KindUser is the first kind number free for programs' own objects.
	KindUser Kind = 1 << 16
)

var kindNames = map[Kind]string{
	KindBytes: "bytes", KindMutex: "mutex", KindRWMutex: "rwmutex", KindCond: "cond",
	KindSemaphore: "semaphore", KindEvent: "event", KindBarrier: "barrier",
	KindValue: "value", KindArray: "array", KindSPSC: "spsc", KindQueue: "queue",
	KindPipe: "pipe", KindMap: "map", KindList: "list", KindLog: "log",
}

// String returns the kind's name, "user+N" for program-defined kinds, or
// "kind(N)" for numbers no version of shmkit assigns.
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	if k >= KindUser {
		return "user+" + strconv.FormatUint(uint64(k-KindUser), 10)
	}
	return "kind(" + strconv.FormatUint(uint64(k), 10) + ")"
}

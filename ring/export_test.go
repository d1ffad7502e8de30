package ring

import "sync/atomic"

// SPSCHeaderSize is the size of an SPSC ring's header, for tests that reach
// into the data area.
const SPSCHeaderSize = spscHeaderSize

// SetClaimHook makes q call f after claiming a slot, before writing
// (writing = true) or reading it: crash tests stop a child there.
func SetClaimHook(q *Queue, f func(writing bool)) { q.claimHook = f }

// QueueHeaderSize is the size of a Queue's header: slot 0 starts here.
const QueueHeaderSize = queueHeaderSize

// SetRecordHook makes q call f between claiming a slot and storing the
// claim record (the claimer's start time) that death checks read.
func SetRecordHook(q *Queue, f func(writing bool)) { q.recordHook = f }

// SetAlignFrom makes r's producer pad records of n bytes or more, as it
// does from AlignFrom on, so that tests of small rings cover padding.
func SetAlignFrom(r *SPSC, n int) {
	r.alignFrom = n
	r.fastMax = min(r.maxMsg, n-1)
}

// SPSCTailOffset is the offset of Tail in an SPSC ring's header.
const SPSCTailOffset = offSTail

// sleeping reports whether a waiter has recorded that it may be asleep on
// s: set before it sleeps and cleared only by a wake, so a test that sees
// it knows a blocked call got past its spinning.
func (s sleeper) sleeping() bool { return atomic.LoadUint32(s.flag) != 0 }

// SPSCSleeping reports whether r's consumer (data) or producer (!data)
// waits asleep.
func SPSCSleeping(r *SPSC, data bool) bool {
	if data {
		return r.dataWait.sleeping()
	}
	return r.spaceWait.sleeping()
}

// QueueSleeping reports whether a consumer (notEmpty) or a producer
// (!notEmpty) of q waits asleep.
func QueueSleeping(q *Queue, notEmpty bool) bool {
	if notEmpty {
		return q.notEmpty.sleeping()
	}
	return q.notFull.sleeping()
}

// ConnSleeping reports whether c waits asleep to receive (recv) or to send.
func ConnSleeping(c *Conn, recv bool) bool {
	if recv {
		return c.in.dataWait.sleeping()
	}
	return c.out.spaceWait.sleeping()
}

// SPSCWakes returns how many times r's consumer (data) or producer
// (!data) has been woken: the count of wake system calls made for it.
func SPSCWakes(r *SPSC, data bool) uint32 {
	if data {
		return atomic.LoadUint32(r.dataWait.seq)
	}
	return atomic.LoadUint32(r.spaceWait.seq)
}

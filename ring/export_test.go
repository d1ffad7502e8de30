package ring

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

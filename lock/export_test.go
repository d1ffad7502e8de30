package lock

// Field offsets for the external tests.
const (
	OffRWWriter    = rwWriter
	OffRWState     = rwState
	OffRWReaders   = rwReaders
	OffCondSeq     = condSeq
	OffCondWaiters = condWaiters
)

// OffRWWaiting is the offset of an RWMutex's count of readers waiting for
// the writer.
const OffRWWaiting = rwWaiting

package lock

// Field offsets for the external tests.
const (
	OffRWWriter    = rwWriter
	OffRWState     = rwState
	OffRWReaders   = rwReaders
	OffCondSeq     = condSeq
	OffCondWaiters = condWaiters
)

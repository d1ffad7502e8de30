package shm

// NewBytes creates a raw object of n bytes called name, zeroed and 64-byte
// aligned, and returns its memory: bring your own layout, as with Python's
// SharedMemory.buf. The slice aliases the mapping; it is valid until the
// segment is closed. Use sync/atomic on aligned words inside it to share
// them safely; the race detector cannot see accesses made by other
// processes.
func NewBytes(seg *Segment, name string, n int) ([]byte, error) {
	return seg.Alloc(name, KindBytes, n, 0, nil)
}

// OpenBytes returns the memory of the raw object called name, created by
// NewBytes in this or another process.
func OpenBytes(seg *Segment, name string) ([]byte, error) {
	return seg.Lookup(name, KindBytes)
}

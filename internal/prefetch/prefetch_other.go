//go:build !amd64

package prefetch

// Enabled reports whether Write prefetches: never on this architecture.
const Enabled = false

// Write does nothing on this architecture.
func Write(p *uint64) {}

package prefetch

// Enabled reports whether Write prefetches on this processor. Callers test
// it before computing an address, so that where it is false nothing is
// spent.
var Enabled = hasPrefetchW()

// Write prefetches the cache line holding *p into this core's cache, ready
// to be written (PREFETCHW). Call it only when Enabled is true.
//
//go:noescape
func Write(p *uint64)

// hasPrefetchW reports CPUID.80000001H:ECX.PRFCHW[bit 8].
func hasPrefetchW() bool

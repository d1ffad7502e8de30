// Package prefetch asks the processor to bring a cache line into this
// core's cache ahead of a write.
//
// A bounded MPMC queue's producer reads each slot's state word before it
// claims the slot, and on a queue that keeps moving, the line holding that
// word was last written by a consumer on another core: the read waits for
// the line to cross, once per message, with nothing to overlap it. Write
// fetches the line of a slot the producers will claim soon, in a state
// that lets this core write it, so that the crossing overlaps the work on
// the messages before it.
//
// On amd64 Write is PREFETCHW, and Enabled reports whether CPUID lists it
// (PRFCHW, shown as "3dnowprefetch" in /proc/cpuinfo); callers call Write
// only when Enabled is true. On other architectures Enabled is false and
// Write does nothing. A prefetch is a hint: it never faults and never
// changes memory, so a stale or wrong address costs at most a cache line
// fetched for nothing.
package prefetch

package ipcbench

import (
	"math"
	"math/bits"
)

// Histogram records non-negative durations in nanoseconds in log-linear
// buckets: exact below 256 ns, then 128 buckets per power of two, so a
// quantile is within 0.4% of the true sample. Its zero value is empty and
// ready to use. It is not safe for concurrent use.
type Histogram struct {
	counts [nBuckets]uint64
	n      uint64
	sum    float64
	min    int64
	max    int64
}

const (
	subBits  = 7
	sub      = 1 << subBits // buckets per power of two
	linear   = 2 * sub      // values below this have a bucket each
	nBuckets = linear + (63-subBits-1)*sub
)

// bucket returns the bucket index of v ≥ 0.
func bucket(v int64) int {
	if v < linear {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - subBits - 1 // v >> e is in [sub, 2*sub)
	m := int(v>>e) - sub
	return linear + (e-1)*sub + m
}

// bucketMid returns the middle of bucket i's range.
func bucketMid(i int) int64 {
	if i < linear {
		return int64(i)
	}
	e := (i-linear)/sub + 1
	m := int64((i-linear)%sub + sub)
	return m<<e + (int64(1)<<e)/2
}

// Record adds one sample of v nanoseconds (negative values count as 0).
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[bucket(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Count returns the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Mean returns the mean sample, or 0 when empty.
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Min and Max return the exact smallest and largest samples.
func (h *Histogram) Min() int64 { return h.min }

// Max returns the largest sample.
func (h *Histogram) Max() int64 { return h.max }

// Quantile returns the sample at quantile q in [0, 1]: the smallest value v
// such that at least q of the samples are ≤ v (within the bucket precision).
// Quantile(0) is Min and Quantile(1) is Max; an empty histogram gives 0.
func (h *Histogram) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return h.min
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(max(bucketMid(i), h.min), h.max)
		}
	}
	return h.max
}

// Merge adds the samples of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

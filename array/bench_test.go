//go:build linux

package array_test

import (
	"strconv"
	"testing"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/internal/testutil"
)

// BenchmarkBulk: bulk transfers through Slice, beside the same operation on
// a Go heap slice of the same size in the same run (mech=heap):
//
//   - op=write: copy(a.Slice(), src), src on the heap;
//   - op=read: copy(dst, a.Slice()), dst on the heap;
//   - op=sum: a numeric loop over the elements in place.
//
// MB/s is the rate of elements moved or summed. The shared elements are
// ordinary memory once mapped (a memfd's pages), so the two should match;
// size=64KiB stays in cache, size=8MiB does not.
func BenchmarkBulk(b *testing.B) {
	for _, size := range []int{64 << 10, 8 << 20} {
		n := size / 8
		seg := testutil.Segment(b, int64(size)+1<<20)
		a, err := array.New[float64](seg, "a", n)
		if err != nil {
			b.Fatal(err)
		}
		shared := a.Slice()
		heap := make([]float64, n)
		other := make([]float64, n)
		for i := range other {
			other[i] = float64(i)
		}
		copy(shared, other) // fault the pages in, as the heap's are
		copy(heap, other)
		for _, mech := range []struct {
			name string
			s    []float64
		}{{"shmkit", shared}, {"heap", heap}} {
			sz := "size=" + sizeName(size)
			b.Run("op=write/"+sz+"/mech="+mech.name, func(b *testing.B) {
				b.SetBytes(int64(size))
				for range b.N {
					copy(mech.s, other)
				}
			})
			b.Run("op=read/"+sz+"/mech="+mech.name, func(b *testing.B) {
				b.SetBytes(int64(size))
				for range b.N {
					copy(other, mech.s)
				}
			})
			b.Run("op=sum/"+sz+"/mech="+mech.name, func(b *testing.B) {
				b.SetBytes(int64(size))
				var total float64
				for range b.N {
					for _, x := range mech.s {
						total += x
					}
				}
				if total < 0 {
					b.Fatal(total)
				}
			})
		}
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n>>10) + "KiB"
}

// BenchmarkAtSet: At and Set of a float64 (one atomic load or store), beside
// indexing the Slice view.
func BenchmarkAtSet(b *testing.B) {
	a, err := array.New[float64](testutil.Segment(b, 1<<20), "a", 1024)
	if err != nil {
		b.Fatal(err)
	}
	s := a.Slice()
	b.Run("op=at/mech=shmkit", func(b *testing.B) {
		var t float64
		for i := range b.N {
			t += a.At(i & 1023)
		}
		_ = t
	})
	b.Run("op=at/mech=slice", func(b *testing.B) {
		var t float64
		for i := range b.N {
			t += s[i&1023]
		}
		_ = t
	})
	b.Run("op=set/mech=shmkit", func(b *testing.B) {
		for i := range b.N {
			a.Set(i&1023, float64(i))
		}
	})
	b.Run("op=set/mech=slice", func(b *testing.B) {
		for i := range b.N {
			s[i&1023] = float64(i)
		}
	})
}

//go:build linux

package array_test

import (
	"testing"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/internal/testutil"
)

// BenchmarkListAppend: Append of an 8-byte element by one goroutine, the
// list truncated when full; and At of an element below the length.
func BenchmarkListAppend(b *testing.B) {
	l, err := array.NewList[int64](testutil.Segment(b, 1<<20), "l", 1<<16)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := range b.N {
		if _, err := l.Append(int64(i)); err != nil {
			l.Truncate(0)
		}
	}
}

func BenchmarkListAt(b *testing.B) {
	l, err := array.NewList[int64](testutil.Segment(b, 1<<20), "l", 1024)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1024 {
		l.Append(int64(i))
	}
	b.ReportAllocs()
	var sum int64
	for i := range b.N {
		sum += l.At(i & 1023)
	}
	if sum < 0 {
		b.Fatal(sum)
	}
}

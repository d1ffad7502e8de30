//go:build linux

package array_test

import (
	"errors"
	"testing"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/shm"
)

// FuzzListHostile lets a "peer" write arbitrary bytes into a list's memory
// between operations: every operation must return a result or an error
// (ErrCorrupt, ErrNoSpace), never panic, read out of bounds or hang. The
// peer leaves the lock word alone (a peer holding the lock denies service,
// which no layout check can prevent).
func FuzzListHostile(f *testing.F) {
	f.Add([]byte{1, 2, 3, 0, 16, 255, 255, 0, 0, 0, 0, 0, 0, 1, 4, 5})
	f.Add([]byte{1, 1, 1, 1, 0, 16, 3, 0, 0, 0, 0, 0, 0, 0, 2, 3, 4, 5, 6})
	f.Add([]byte{0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 6, 1, 2, 0, 17, 1, 2, 3, 4, 5, 6, 7, 8, 2})
	f.Fuzz(func(t *testing.T, in []byte) {
		seg := testutil.Segment(t, 1<<16)
		l, err := array.NewList[record](seg, "l", 6)
		if err != nil {
			t.Fatal(err)
		}
		mem, _ := seg.Lookup("l", shm.KindList)
		ok := func(err error) {
			if err != nil && !errors.Is(err, shm.ErrCorrupt) && !errors.Is(err, shm.ErrNoSpace) {
				t.Fatalf("unexpected error %v", err)
			}
		}
		next := func() int {
			if len(in) == 0 {
				return 0
			}
			v := int(in[0])
			in = in[1:]
			return v
		}
		for len(in) > 0 {
			switch next() % 7 {
			case 0: // the peer scribbles 8 bytes at a multiple of 8, not the lock word
				pos := next() * 8 % (len(mem) - 8)
				if pos == 64 {
					pos = 72
				}
				for i := range 8 {
					mem[pos+i] = byte(next())
				}
			case 1:
				_, err := l.Append(makeRecord(1, next()))
				ok(err)
			case 2:
				_, err := l.Extend(makeRecord(2, 0), makeRecord(2, 1))
				ok(err)
			case 3:
				if n := l.Len(); n > 0 {
					i := next() % n
					_ = l.At(i)
					l.Set(i, makeRecord(3, i))
				}
			case 4:
				l.Truncate(next() % 8)
			case 5:
				if s := l.Slice(); len(s) > l.Cap() {
					t.Fatalf("Slice of %d elements, capacity %d", len(s), l.Cap())
				}
			case 6:
				if _, err := array.OpenList[record](seg, "l"); err != nil && !errors.Is(err, shm.ErrCorrupt) {
					t.Fatalf("OpenList = %v", err)
				}
			}
		}
	})
}

//go:build linux

package value_test

import (
	"bytes"
	"errors"
	"strconv"
	"testing"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/value"
)

// FuzzMap drives a BytesMap with random sequences of every operation and
// checks each result against a Go map, and the table's invariants every
// few operations.
func FuzzMap(f *testing.F) {
	f.Add([]byte{0, 1, 10, 0, 2, 200, 1, 1, 2, 1, 0, 3, 49, 3, 3})
	f.Add([]byte{0, 1, 255, 0, 2, 255, 0, 3, 255, 0, 1, 0, 4, 1, 5, 6, 0, 7, 1})
	f.Add(bytes.Repeat([]byte{0, 9, 113, 2, 9, 0, 4, 48}, 30))
	f.Fuzz(func(t *testing.T, in []byte) {
		seg := testutil.Segment(t, 1<<18)
		const entries, capBytes, limit = 6, 600, 300
		m, err := value.NewBytesMap(seg, "m", value.MapOptions{Entries: entries, Bytes: capBytes, MaxEntryBytes: limit})
		if err != nil {
			t.Fatal(err)
		}
		model := map[string]string{}
		used := func() int {
			n := 0
			for k, v := range model {
				n += len(k) + len(v)
			}
			return n
		}
		o := testutil.NewFuzzInput(in)
		for i := 0; o.More(); i++ {
			key := strconv.Itoa(o.Byte() % 10)
			switch op := o.Byte(); op % 8 {
			case 0, 1: // Put, or Update storing
				val := pattern(i, o.Byte()*3%(limit+20))
				old, had := model[key]
				after := used() + len(key) + len(val)
				if had {
					after = used() - len(old) + len(val)
				}
				fits := len(key)+len(val) <= limit && after <= capBytes && (had || len(model) < entries)
				var err error
				if op%8 == 0 {
					err = m.Put([]byte(key), []byte(val))
				} else {
					err = m.Update([]byte(key), func(o []byte, ok bool) ([]byte, bool) {
						if ok != had || string(o) != old {
							t.Fatalf("Update saw %q, %v; model %q, %v", o, ok, old, had)
						}
						return []byte(val), true
					})
				}
				switch {
				case fits && err != nil:
					t.Fatalf("op %d: Put: %v", i, err)
				case !fits && !errors.Is(err, shm.ErrNoSpace):
					t.Fatalf("op %d: Put beyond the capacity = %v", i, err)
				case fits:
					model[key] = val
				}
			case 2:
				v, ok, err := m.Get([]byte(key), nil)
				if want, had := model[key]; err != nil || ok != had || string(v) != want {
					t.Fatalf("op %d: Get(%s) = %d bytes, %v, %v; want %d bytes, %v", i, key, len(v), ok, err, len(want), had)
				}
			case 3:
				ok, err := m.Delete([]byte(key))
				if _, had := model[key]; err != nil || ok != had {
					t.Fatalf("op %d: Delete = %v, %v", i, ok, err)
				}
				delete(model, key)
			case 4:
				snap, err := m.Snapshot()
				if err != nil || len(snap) != len(model) || m.Len() != len(model) {
					t.Fatalf("op %d: Snapshot %d entries, Len %d, %v; model %d", i, len(snap), m.Len(), err, len(model))
				}
				for k, v := range model {
					if string(snap[k]) != v {
						t.Fatalf("op %d: Snapshot[%s] differs", i, k)
					}
				}
			case 5:
				n := 0
				if err := m.Range(func(k, v []byte) bool { n++; return model[string(k)] == string(v) }); err != nil || n != len(model) {
					t.Fatalf("op %d: Range saw %d entries, %v", i, n, err)
				}
			case 6:
				if o.Byte() > 240 {
					m.Clear()
					clear(model)
				}
			case 7:
				if err := value.Verify(m); err != nil {
					t.Fatalf("op %d: %v", i, err)
				}
			}
		}
		if err := value.Verify(m); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzMapHostile lets a "peer" write arbitrary bytes into a map's memory
// between operations: every operation must return a result or an error
// (ErrCorrupt, or ErrNoSpace), never panic, read out of bounds or hang.
// The peer leaves the map's lock alone: a peer that holds a lock it never
// releases denies service, which no layout check can prevent.
func FuzzMapHostile(f *testing.F) {
	f.Add([]byte{1, 5, 9, 0, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 2, 5})
	f.Add([]byte{1, 1, 200, 0, 0, 10, 255, 255, 255, 255, 0, 0, 0, 0, 2, 1, 3, 1, 4, 1})
	f.Add([]byte{1, 2, 100, 1, 3, 100, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 6, 0})
	f.Add([]byte{0, 0, 11, 1, 0, 0, 0, 0, 0, 0, 0, 1, 4, 2, 5, 1, 7, 200})
	f.Add([]byte{1, 4, 250, 0, 1, 20, 9, 9, 9, 9, 9, 9, 9, 9, 2, 4, 3, 4, 1, 4, 20})
	f.Fuzz(func(t *testing.T, in []byte) {
		seg := testutil.Segment(t, 1<<18)
		m, err := value.NewBytesMap(seg, "m", value.MapOptions{Entries: 8, Bytes: 600, MaxEntryBytes: 300})
		if err != nil {
			t.Fatal(err)
		}
		mem, _ := seg.Lookup("m", shm.KindMap)
		const lockFrom, lockTo = 64, 64 + lock.RWMutexSize
		ok := func(err error) {
			if err != nil && !errors.Is(err, shm.ErrCorrupt) && !errors.Is(err, shm.ErrNoSpace) {
				t.Fatalf("unexpected error %v", err)
			}
		}
		o := testutil.NewFuzzInput(in)
		for o.More() {
			key := []byte(strconv.Itoa(o.Byte() % 6))
			switch o.Byte() % 8 {
			case 0: // the peer scribbles 8 bytes anywhere but on the lock
				// 8 bytes at pos in [0, lockFrom-8] or [lockTo, len-8].
				below := lockFrom - 8 + 1
				pos := (o.Byte()<<8 | o.Byte()) * 4 % (below + len(mem) - 8 - lockTo + 1)
				if pos >= below {
					pos += lockTo - below
				}
				for i := range 8 {
					mem[pos+i] = byte(o.Byte())
				}
			case 1:
				ok(m.Put(key, bytes.Repeat([]byte{'v'}, o.Byte())))
			case 2:
				_, _, err := m.Get(key, nil)
				ok(err)
			case 3:
				_, err := m.Delete(key)
				ok(err)
			case 4:
				ok(m.Update(key, func(old []byte, _ bool) ([]byte, bool) { return append(old, 'u'), true }))
			case 5:
				_ = m.Len()
				_, err := m.Snapshot()
				ok(err)
				ok(m.Range(func(k, v []byte) bool { return true }))
			case 6:
				if _, err := value.OpenBytesMap(seg, "m"); err != nil && !errors.Is(err, shm.ErrCorrupt) {
					t.Fatalf("OpenBytesMap = %v", err)
				}
			case 7:
				if o.Byte() > 200 {
					ok(m.Clear())
				}
			}
		}
		// Clear always makes the map usable again.
		if err := m.Clear(); err != nil {
			t.Fatal(err)
		}
		if err := m.Put([]byte("k"), []byte("v")); err != nil {
			t.Fatal(err)
		}
		if err := value.Verify(m); err != nil {
			t.Fatal(err)
		}
	})
}

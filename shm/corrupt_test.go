//go:build linux

package shm_test

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/shmkit/shmkit/shm"
)

// validSegment returns the bytes of an 8 KiB segment file holding two
// objects, "first" and "second".
func validSegment(t testing.TB) []byte {
	path := filepath.Join(t.TempDir(), "valid")
	seg, err := shm.CreateFile(path, 8192)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := shm.NewBytes(seg, "first", 100); err != nil {
		t.Fatal(err)
	}
	if _, err := shm.NewBytes(seg, "second", 200); err != nil {
		t.Fatal(err)
	}
	seg.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var ne = binary.NativeEndian

func entry(i, field int) int { return shm.HeaderSize + i*shm.EntrySize + field }

// TestCorruptSegments changes one thing per row in a valid segment file and
// checks that opening it fails with the sentinel and names the field.
func TestCorruptSegments(t *testing.T) {
	valid := validSegment(t)
	firstOff := ne.Uint64(valid[entry(0, shm.EntOffset):])
	for _, tc := range []struct {
		name   string
		mutate func(b []byte) []byte
		want   error
		field  string // text the error must contain
	}{
		{"empty file", func(b []byte) []byte { return b[:0] }, shm.ErrCorrupt, "shorter than the 256-byte header"},
		{"shorter than header", func(b []byte) []byte { return b[:100] }, shm.ErrCorrupt, "shorter than the 256-byte header"},
		{"wrong magic", func(b []byte) []byte { b[1] = 'X'; return b }, shm.ErrCorrupt, "field magic (offset 0)"},
		{"zero magic", func(b []byte) []byte { clear(b[:8]); return b }, shm.ErrCorrupt, "field magic"},
		{"other version", func(b []byte) []byte { ne.PutUint32(b[shm.OffVersion:], 1); return b }, shm.ErrVersion, "field version (offset 8): unsupported layout version: segment has layout version 1, this build reads 3"},
		{"header size", func(b []byte) []byte { ne.PutUint32(b[shm.OffHeaderSize:], 128); return b }, shm.ErrCorrupt, "field header_size"},
		{"size beyond file", func(b []byte) []byte { ne.PutUint64(b[shm.OffSize:], 1<<14); return b }, shm.ErrCorrupt, "field size"},
		{"truncated file", func(b []byte) []byte { return b[:len(b)-4096] }, shm.ErrCorrupt, "header says 8192 bytes, file is 4096"},
		{"dir offset", func(b []byte) []byte { ne.PutUint32(b[shm.OffDirOffset:], 512); return b }, shm.ErrCorrupt, "field dir_offset"},
		{"dir cap zero", func(b []byte) []byte { ne.PutUint32(b[shm.OffDirCap:], 0); return b }, shm.ErrCorrupt, "field dir_cap"},
		{"dir cap huge", func(b []byte) []byte { ne.PutUint32(b[shm.OffDirCap:], math.MaxUint32); return b }, shm.ErrCorrupt, "field dir_cap"},
		{"heap offset", func(b []byte) []byte { ne.PutUint64(b[shm.OffHeapOffset:], 64); return b }, shm.ErrCorrupt, "field heap_offset"},
		{"dir used beyond cap", func(b []byte) []byte { ne.PutUint32(b[shm.OffDirUsed:], 33); return b }, shm.ErrCorrupt, "field dir_used"},
		{"heap next beyond size", func(b []byte) []byte { ne.PutUint64(b[shm.OffHeapNext:], 1<<20); return b }, shm.ErrCorrupt, "field heap_next"},
		{"heap next below heap", func(b []byte) []byte { ne.PutUint64(b[shm.OffHeapNext:], 0); return b }, shm.ErrCorrupt, "field heap_next"},
		{"entry state", func(b []byte) []byte { ne.PutUint32(b[entry(1, shm.EntState):], 9); return b }, shm.ErrCorrupt, "field directory[1].state"},
		{"entry free below used", func(b []byte) []byte { ne.PutUint32(b[entry(0, shm.EntState):], 0); return b }, shm.ErrCorrupt, "field directory[0].state"},
		{"entry kind", func(b []byte) []byte { ne.PutUint32(b[entry(0, shm.EntKind):], 0); return b }, shm.ErrCorrupt, "field directory[0].kind"},
		{"entry name slash", func(b []byte) []byte { b[entry(0, shm.EntName)+1] = '/'; return b }, shm.ErrCorrupt, "field directory[0].name"},
		{"entry name empty", func(b []byte) []byte { clear(b[entry(1, shm.EntName) : entry(1, shm.EntName)+32]); return b }, shm.ErrCorrupt, "field directory[1].name"},
		{"entry name unterminated", func(b []byte) []byte {
			copy(b[entry(1, shm.EntName):], strings.Repeat("n", 32))
			return b
		}, nil, ""}, // 32 bytes with no NUL is a valid maximal name
		{"entry offset in header", func(b []byte) []byte { ne.PutUint64(b[entry(0, shm.EntOffset):], 0); return b }, shm.ErrCorrupt, "field directory[0].offset"},
		{"entry offset misaligned", func(b []byte) []byte { ne.PutUint64(b[entry(0, shm.EntOffset):], firstOff+8); return b }, shm.ErrCorrupt, "field directory[0].offset"},
		{"entry beyond heap", func(b []byte) []byte { ne.PutUint64(b[entry(1, shm.EntSize):], 4096); return b }, shm.ErrCorrupt, "field directory[1].size"},
		{"entry size zero", func(b []byte) []byte { ne.PutUint64(b[entry(1, shm.EntSize):], 0); return b }, shm.ErrCorrupt, "field directory[1].size"},
		{"entry size overflows", func(b []byte) []byte { ne.PutUint64(b[entry(1, shm.EntSize):], math.MaxUint64); return b }, shm.ErrCorrupt, "field directory[1].size"},
		{"overlapping entries", func(b []byte) []byte { ne.PutUint64(b[entry(1, shm.EntOffset):], firstOff); return b }, shm.ErrCorrupt, "overlaps"},
		{"duplicate names", func(b []byte) []byte {
			copy(b[entry(1, shm.EntName):entry(1, shm.EntName)+32], b[entry(0, shm.EntName):entry(0, shm.EntName)+32])
			return b
		}, shm.ErrCorrupt, `second ready object named "first"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mutate(append([]byte(nil), valid...))
			path := filepath.Join(t.TempDir(), "seg")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			seg, err := shm.OpenFile(path)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("OpenFile = %v, want success", err)
				}
				seg.Close()
				return
			}
			if err == nil {
				seg.Close()
				t.Fatalf("OpenFile succeeded, want %v", tc.want)
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), path) {
				t.Fatalf("OpenFile = %v\nwant %v naming the file and %q", err, tc.want, tc.field)
			}
			var se *shm.Error
			if !errors.As(err, &se) || se.Segment != path || se.Op != "open" {
				t.Fatalf("error %#v is not an *shm.Error for op open of %s", err, path)
			}
		})
	}
}

// TestCorruptAfterOpen scribbles on a directory entry of a mapped segment:
// Lookup reports it, Objects skips it, nothing panics.
func TestCorruptAfterOpen(t *testing.T) {
	seg, err := shm.CreateAnon(1 << 16)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	if _, err := shm.NewBytes(seg, "first", 100); err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(seg.File().Fd()), 0, 1<<16, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	ne.PutUint64(m[entry(0, shm.EntSize):], math.MaxUint64-10)
	if _, err := shm.OpenBytes(seg, "first"); !errors.Is(err, shm.ErrCorrupt) || !strings.Contains(err.Error(), "directory[0].size") {
		t.Errorf("OpenBytes of a scribbled entry = %v, want ErrCorrupt naming directory[0].size", err)
	}
	if objs := seg.Objects(); len(objs) != 0 {
		t.Errorf("Objects lists a corrupt entry: %+v", objs)
	}
	if _, err := shm.NewBytes(seg, "second", 8); !errors.Is(err, shm.ErrCorrupt) {
		t.Errorf("NewBytes in a corrupt directory = %v, want ErrCorrupt", err)
	}
	ne.PutUint32(m[shm.OffDirUsed:], 1000)
	if _, err := shm.OpenBytes(seg, "first"); !errors.Is(err, shm.ErrCorrupt) || !strings.Contains(err.Error(), "dir_used") {
		t.Errorf("OpenBytes with a scribbled dir_used = %v, want ErrCorrupt", err)
	}
}

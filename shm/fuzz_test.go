//go:build linux

package shm_test

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/shmkit/shmkit/shm"
)

// FuzzOpen opens arbitrary bytes as a segment file. Opening must fail with
// ErrCorrupt or ErrVersion, or succeed with a segment whose every operation
// gives an error or a correct answer; never a panic or an out-of-bounds
// access.
func FuzzOpen(f *testing.F) {
	valid := validSegment(f)
	f.Add(valid)
	f.Add(valid[:200])
	f.Add(valid[:len(valid)-4096])
	wrongMagic := append([]byte(nil), valid...)
	wrongMagic[0] = 0
	f.Add(wrongMagic)
	wrongVersion := append([]byte(nil), valid...)
	ne.PutUint32(wrongVersion[shm.OffVersion:], 9)
	f.Add(wrongVersion)
	badDir := append([]byte(nil), valid...)
	ne.PutUint64(badDir[entry(1, shm.EntOffset):], ne.Uint64(valid[entry(0, shm.EntOffset):]))
	f.Add(badDir)
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, b []byte) {
		fd, err := unix.MemfdCreate("fuzz", unix.MFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		file := os.NewFile(uintptr(fd), "fuzz")
		if _, err := file.Write(b); err != nil {
			t.Fatal(err)
		}
		seg, err := shm.FromFile(file, "fuzz")
		if err != nil {
			if !errors.Is(err, shm.ErrCorrupt) && !errors.Is(err, shm.ErrVersion) {
				t.Fatalf("FromFile = %v, want ErrCorrupt or ErrVersion", err)
			}
			return
		}
		defer seg.Close()
		_ = seg.Info()
		for _, o := range seg.Objects() {
			mem, err := seg.Lookup(o.Name, o.Kind)
			if err != nil {
				t.Fatalf("Lookup(%q) of a listed object: %v", o.Name, err)
			}
			if int64(len(mem)) != o.Size {
				t.Fatalf("Lookup(%q) gave %d bytes, Objects says %d", o.Name, len(mem), o.Size)
			}
		}
		mem, err := seg.Alloc("fuzz-new", shm.KindUser, 64, 0, nil)
		if err == nil && len(mem) != 64 {
			t.Fatalf("Alloc gave %d bytes", len(mem))
		}
	})
}

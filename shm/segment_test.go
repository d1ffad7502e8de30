//go:build linux

package shm_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// uniqueName returns a segment name no other test run uses.
func uniqueName(t *testing.T) string {
	name := fmt.Sprintf("shmkit-test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "."))
	if len(name) > shm.MaxNameLen {
		name = fmt.Sprintf("shmkit-%d-%x", os.Getpid(), fnv(t.Name()))
	}
	t.Cleanup(func() { shm.Remove(name) })
	return name
}

func fnv(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

func u32(b []byte) *uint32 { return (*uint32)(unsafe.Pointer(&b[0])) }

// childEcho checks the parent's message in object "msg" of the segment it
// was given (or opened by name or path, per its first argument) and writes
// its answer after it.
var childEcho = spawn.Register("TestBackings", func(ctx context.Context, c *spawn.Child) error {
	var seg *shm.Segment
	switch how, arg := c.Args()[0], c.Args()[1]; how {
	case "fd":
		seg = c.Segments()[0]
	case "name":
		s, err := shm.Open(arg)
		if err != nil {
			return err
		}
		defer s.Close()
		seg = s
	case "path":
		s, err := shm.OpenFile(arg)
		if err != nil {
			return err
		}
		defer s.Close()
		seg = s
	}
	b, err := shm.OpenBytes(seg, "msg")
	if err != nil {
		return err
	}
	if got := string(b[:5]); got != "hello" {
		return fmt.Errorf("child read %q, want hello", got)
	}
	copy(b[5:], " from child")
	return nil
})

func TestBackings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.shm")
	for _, tc := range []struct {
		name   string
		create func(t *testing.T) (*shm.Segment, []string)
	}{
		{"anonymous", func(t *testing.T) (*shm.Segment, []string) {
			s, err := shm.CreateAnon(1 << 16)
			return must(t, s, err), []string{"fd", ""}
		}},
		{"named/fd", func(t *testing.T) (*shm.Segment, []string) {
			n := uniqueName(t)
			s, err := shm.Create(n, 1<<16)
			return must(t, s, err), []string{"fd", n}
		}},
		{"named/open", func(t *testing.T) (*shm.Segment, []string) {
			n := uniqueName(t)
			s, err := shm.Create(n, 1<<16)
			return must(t, s, err), []string{"name", n}
		}},
		{"file/open", func(t *testing.T) (*shm.Segment, []string) {
			s, err := shm.CreateFile(path, 1<<16)
			return must(t, s, err), []string{"path", path}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seg, args := tc.create(t)
			defer seg.Close()
			b, err := shm.NewBytes(seg, "msg", 64)
			if err != nil {
				t.Fatal(err)
			}
			copy(b, "hello")
			p, err := childEcho.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}, Args: args})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Wait(); err != nil {
				t.Fatal(err)
			}
			if got := string(b[:16]); got != "hello from child" {
				t.Fatalf("parent reads %q, want %q", got, "hello from child")
			}
		})
	}
}

func must(t *testing.T, s *shm.Segment, err error) *shm.Segment {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNamedSegmentRules(t *testing.T) {
	name := uniqueName(t)
	seg, err := shm.Create(name, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	fi, err := os.Stat(filepath.Join(shm.Dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if seg.Name() != name || seg.Size() != 1<<16 {
		t.Errorf("Name %q Size %d", seg.Name(), seg.Size())
	}
	if _, err := shm.Create(name, 1<<16); !errors.Is(err, shm.ErrExist) || !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create of an existing name = %v, want ErrExist", err)
	}
	if _, err := shm.Open(name + "-missing"); !errors.Is(err, shm.ErrNotExist) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of a missing name = %v, want ErrNotExist", err)
	}

	// Wider permissions than 0600: refused.
	if err := os.Chmod(filepath.Join(shm.Dir, name), 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := shm.Open(name); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Open of a world-writable segment = %v, want fs.ErrPermission", err)
	}
	os.Chmod(filepath.Join(shm.Dir, name), 0o600)

	// Symbolic links are never followed.
	link := uniqueName(t) + "-link"
	if err := os.Symlink(filepath.Join(shm.Dir, name), filepath.Join(shm.Dir, link)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(filepath.Join(shm.Dir, link)) })
	if _, err := shm.Open(link); !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Open through a symlink = %v, want a refusal naming the symlink", err)
	}
	if _, err := shm.Create(link, 1<<16); !errors.Is(err, shm.ErrExist) {
		t.Errorf("Create over a symlink = %v, want ErrExist", err)
	}

	if err := shm.Remove(name); err != nil {
		t.Fatal(err)
	}
	if err := shm.Remove(name); !errors.Is(err, shm.ErrNotExist) {
		t.Errorf("second Remove = %v, want ErrNotExist", err)
	}
	// The mapping outlives the name.
	if _, err := shm.NewBytes(seg, "after-remove", 8); err != nil {
		t.Errorf("NewBytes after Remove: %v", err)
	}
}

func TestNames(t *testing.T) {
	for _, name := range []string{"a", "A-z_0.9", strings.Repeat("x", 32), ".hidden", "..."} {
		if err := shm.ValidateName(name); err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", name, err)
		}
	}
	for _, tc := range []struct{ name, why string }{
		{"", "empty"},
		{strings.Repeat("x", 33), "33 bytes long"},
		{"a/b", `byte '/' at 1`},
		{"..", "reserved"},
		{".", "reserved"},
		{"sp ace", `byte ' ' at 2`},
		{"nul\x00", `byte 0x00 at 3`},
		{"é", `byte 0xc3 at 0`},
	} {
		err := shm.ValidateName(tc.name)
		if !errors.Is(err, shm.ErrBadName) || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("ValidateName(%q) = %v, want ErrBadName saying %q", tc.name, err, tc.why)
		}
		if _, err := shm.Create(tc.name, 1<<16); !errors.Is(err, shm.ErrBadName) {
			t.Errorf("Create(%q) = %v, want ErrBadName", tc.name, err)
		}
	}
}

func TestCreateErrors(t *testing.T) {
	if _, err := shm.CreateAnon(100); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("CreateAnon(100) = %v, want fs.ErrInvalid (below the minimum size)", err)
	}
	// Far more than /dev/shm holds: refused now, not a SIGBUS later.
	if _, err := shm.Create(uniqueName(t), 1<<50); !errors.Is(err, shm.ErrNoSpace) {
		t.Errorf("Create of 1 PiB = %v, want ErrNoSpace", err)
	}
	path := filepath.Join(t.TempDir(), "f")
	s, err := shm.CreateFile(path, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := shm.CreateFile(path, 1<<16); !errors.Is(err, shm.ErrExist) {
		t.Errorf("CreateFile of an existing path = %v, want ErrExist", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func TestAnonymousSealed(t *testing.T) {
	seg, err := shm.CreateAnon(1 << 16)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	if err := seg.File().Truncate(1 << 12); err == nil {
		t.Fatal("truncating an anonymous segment succeeded; its size should be sealed")
	}
	if err := seg.File().Truncate(1 << 20); err == nil {
		t.Fatal("growing an anonymous segment succeeded; its size should be sealed")
	}
}

func TestAllocAndLookup(t *testing.T) {
	seg, err := shm.CreateAnon(1 << 16)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	a, err := seg.Alloc("a", shm.KindUser, 100, 0, func(mem []byte) error {
		if len(mem) != 100 {
			return fmt.Errorf("len %d", len(mem))
		}
		mem[0] = 7
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := seg.Alloc("b", shm.KindUser+1, 10, 4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	if uintptr(unsafe.Pointer(&b[0]))%4096 != 0 || uintptr(unsafe.Pointer(&a[0]))%64 != 0 {
		t.Errorf("alignment: a at %p, b at %p", &a[0], &b[0])
	}
	got, err := seg.Lookup("a", shm.KindUser)
	if err != nil || &got[0] != &a[0] || got[0] != 7 || len(got) != 100 {
		t.Fatalf("Lookup(a) = %p len %d, %v", got, len(got), err)
	}
	if _, err := seg.Lookup("a", shm.KindUser+1); !errors.Is(err, shm.ErrWrongKind) ||
		!strings.Contains(err.Error(), "it is a user+0, not a user+1") {
		t.Errorf("Lookup with another kind = %v, want ErrWrongKind", err)
	}
	if _, err := seg.Lookup("zz", shm.KindUser); !errors.Is(err, shm.ErrNotExist) {
		t.Errorf("Lookup(zz) = %v, want ErrNotExist", err)
	}
	if _, err := seg.Alloc("a", shm.KindUser, 8, 0, nil); !errors.Is(err, shm.ErrExist) {
		t.Errorf("second Alloc(a) = %v, want ErrExist", err)
	}
	for _, tc := range []struct {
		size, align int
		kind        shm.Kind
	}{{0, 0, shm.KindUser}, {8, 32, shm.KindUser}, {8, 100, shm.KindUser}, {8, 8192, shm.KindUser}, {8, 0, 0}} {
		if _, err := seg.Alloc("bad", tc.kind, tc.size, tc.align, nil); err == nil {
			t.Errorf("Alloc(size %d, align %d, kind %d) succeeded", tc.size, tc.align, tc.kind)
		}
	}

	// init failing or panicking frees the name.
	boom := errors.New("boom")
	if _, err := seg.Alloc("c", shm.KindUser, 8, 0, func([]byte) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("Alloc with failing init = %v, want boom", err)
	}
	func() {
		defer func() { recover() }()
		seg.Alloc("c", shm.KindUser, 8, 0, func([]byte) error { panic("init panic") })
	}()
	if _, err := seg.Lookup("c", shm.KindUser); !errors.Is(err, shm.ErrNotExist) {
		t.Errorf("Lookup of an abandoned object = %v, want ErrNotExist", err)
	}
	if _, err := seg.Alloc("c", shm.KindUser, 8, 0, nil); err != nil {
		t.Errorf("Alloc after abandoned attempts: %v", err)
	}

	want := []shm.ObjectInfo{{"a", shm.KindUser, 0, 100}, {"b", shm.KindUser + 1, 0, 10}, {"c", shm.KindUser, 0, 8}}
	objs := seg.Objects()
	if len(objs) != len(want) {
		t.Fatalf("Objects = %+v, want %d objects", objs, len(want))
	}
	for i, o := range objs {
		if o.Name != want[i].Name || o.Kind != want[i].Kind || o.Size != want[i].Size || o.Offset%64 != 0 {
			t.Errorf("Objects[%d] = %+v, want %+v", i, o, want[i])
		}
	}
	info := seg.Info()
	if info.Used != 5 || info.Entries != 32 || info.CreatorPid != os.Getpid() || info.Version != shm.Version {
		t.Errorf("Info = %+v", info)
	}
}

func TestNoSpace(t *testing.T) {
	seg, err := shm.CreateAnon(shm.MinSize)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	free := seg.Info().HeapFree
	if _, err := shm.NewBytes(seg, "big", int(free)+1); !errors.Is(err, shm.ErrNoSpace) || !strings.Contains(err.Error(), "heap is full") {
		t.Errorf("NewBytes larger than the heap = %v, want ErrNoSpace naming the heap", err)
	}
	var i int
	for i = 0; ; i++ {
		_, err := shm.NewBytes(seg, fmt.Sprintf("o%d", i), 1)
		if err != nil {
			if !errors.Is(err, shm.ErrNoSpace) {
				t.Fatalf("object %d: %v, want ErrNoSpace", i, err)
			}
			if i < 32 && !strings.Contains(err.Error(), "heap is full") || i == 32 && !strings.Contains(err.Error(), "directory is full (32 entries)") {
				t.Fatalf("object %d: %v", i, err)
			}
			break
		}
	}
	// 28 objects of 64 bytes fill the 1792-byte heap of a 4 KiB segment.
	if i != 28 {
		t.Errorf("a %d-byte segment held %d one-byte objects, want 28", shm.MinSize, i)
	}
}

// childAlloc creates 100 objects and competes for 50 shared names, then
// waits for its sibling and checks all 200 private objects.
var childAlloc = spawn.Register("TestConcurrentAlloc", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	me := c.Args()[0]
	ctl, err := shm.OpenBytes(seg, "ctl")
	if err != nil {
		return err
	}
	start, done, won := u32(ctl[0:]), u32(ctl[4:]), u32(ctl[8:])
	atomic.AddUint32(start, 1)
	// Both children allocate at the same time.
	if err := testutil.Await("the sibling to start", func() bool { return atomic.LoadUint32(start) == 2 }); err != nil {
		return err
	}
	for i := 0; i < 100; i++ {
		name := fmt.Sprintf("%s-%d", me, i)
		_, err := seg.Alloc(name, shm.KindUser, 1+i*7, 0, func(mem []byte) error {
			copy(mem, name)
			return nil
		})
		if err != nil {
			return err
		}
		shared := fmt.Sprintf("shared-%d", i/2)
		_, err = seg.Alloc(shared, shm.KindUser, 64, 0, func(mem []byte) error {
			copy(mem, me)
			return nil
		})
		switch {
		case err == nil:
			atomic.AddUint32(won, 1)
		case !errors.Is(err, shm.ErrExist):
			return err
		}
	}
	atomic.AddUint32(done, 1)
	if err := testutil.Await("the sibling to finish", func() bool { return atomic.LoadUint32(done) == 2 }); err != nil {
		return err
	}
	return checkObjects(seg)
})

func checkObjects(seg *shm.Segment) error {
	for _, who := range []string{"p0", "p1"} {
		for i := 0; i < 100; i++ {
			name := fmt.Sprintf("%s-%d", who, i)
			b, err := seg.Lookup(name, shm.KindUser)
			if err != nil {
				return err
			}
			if len(b) != 1+i*7 || !strings.HasPrefix(name, string(b[:min(len(b), len(name))])) {
				return fmt.Errorf("object %s: %d bytes holding %q", name, len(b), b)
			}
		}
	}
	return nil
}

func TestConcurrentAlloc(t *testing.T) {
	seg, err := shm.CreateAnon(4 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	ctl, err := shm.NewBytes(seg, "ctl", 64)
	if err != nil {
		t.Fatal(err)
	}
	var ps []*spawn.Process
	for _, me := range []string{"p0", "p1"} {
		p, err := childAlloc.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}, Args: []string{me}})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := checkObjects(seg); err != nil {
		t.Fatal(err)
	}
	if won := atomic.LoadUint32(u32(ctl[8:])); won != 50 {
		t.Errorf("shared names won %d times in all, want exactly 50", won)
	}
	objs := seg.Objects()
	if len(objs) != 1+200+50 {
		t.Fatalf("%d objects, want 251", len(objs))
	}
	seen := map[string]bool{}
	for i, o := range objs {
		if seen[o.Name] {
			t.Errorf("name %q twice", o.Name)
		}
		seen[o.Name] = true
		for _, p := range objs[:i] {
			if o.Offset < p.Offset+p.Size && p.Offset < o.Offset+o.Size {
				t.Errorf("%q [%d,+%d) overlaps %q [%d,+%d)", o.Name, o.Offset, o.Size, p.Name, p.Offset, p.Size)
			}
		}
	}
	// A segment re-opened from its file agrees (the directory validates).
	f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", seg.File().Fd()), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	again, err := shm.FromFile(f, "")
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if n := len(again.Objects()); n != 251 {
		t.Errorf("re-opened segment lists %d objects, want 251", n)
	}
}

// childInitHang starts creating an object and is killed mid-initialisation.
var childInitHang = spawn.Register("TestCreatorDiesDuringInit", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	ctl, err := shm.OpenBytes(seg, "ctl")
	if err != nil {
		return err
	}
	_, err = seg.Alloc("victim", shm.KindUser, 64, 0, func(mem []byte) error {
		copy(mem, "half-built")
		atomic.StoreUint32(u32(ctl), 1)
		<-ctx.Done() // killed here
		return nil
	})
	return err
})

func TestCreatorDiesDuringInit(t *testing.T) {
	seg := testutil.Segment(t, 1<<16)
	ctl, err := shm.NewBytes(seg, "ctl", 64)
	if err != nil {
		t.Fatal(err)
	}
	p := testutil.Start(t, childInitHang, seg)
	testutil.WaitFor(t, testutil.Timeout, "the child to start initialising", func() bool { return atomic.LoadUint32(u32(ctl)) == 1 })
	if _, err := seg.Lookup("victim", shm.KindUser); !errors.Is(err, shm.ErrNotExist) || !strings.Contains(err.Error(), "still initialising") {
		t.Fatalf("Lookup of a half-built object = %v, want ErrNotExist (being initialised)", err)
	}
	if _, err := seg.Alloc("victim", shm.KindUser, 64, 0, nil); !errors.Is(err, shm.ErrExist) {
		t.Fatalf("Alloc while a live creator initialises = %v, want ErrExist", err)
	}
	p.Kill()
	p.Wait()
	if _, err := seg.Lookup("victim", shm.KindUser); !errors.Is(err, shm.ErrNotExist) || strings.Contains(err.Error(), "still initialising") {
		t.Fatalf("Lookup after the creator died = %v, want plain ErrNotExist", err)
	}
	b, err := seg.Alloc("victim", shm.KindUser, 64, 0, nil)
	if err != nil {
		t.Fatalf("Alloc after the creator died: %v", err)
	}
	if string(b[:10]) == "half-built" {
		t.Fatal("the new object reuses the dead creator's memory")
	}
}

// childAllocHang stops inside Alloc, holding the segment's allocation lock,
// until it is killed.
var childAllocHang = spawn.Register("TestAllocatorDiesHoldingLock", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	ctl, err := shm.OpenBytes(seg, "ctl")
	if err != nil {
		return err
	}
	shm.SetClaimHook(func(string) {
		atomic.StoreUint32(u32(ctl), 1)
		<-ctx.Done() // killed here, holding the lock
	})
	_, err = seg.Alloc("doomed", shm.KindUser, 100, 0, nil)
	return err
})

func TestAllocatorDiesHoldingLock(t *testing.T) {
	seg := testutil.Segment(t, 1<<16)
	ctl, err := shm.NewBytes(seg, "ctl", 64)
	if err != nil {
		t.Fatal(err)
	}
	p := testutil.Start(t, childAllocHang, seg)
	testutil.WaitFor(t, testutil.Timeout, "the child to stop inside Alloc", func() bool { return atomic.LoadUint32(u32(ctl)) == 1 })
	p.Kill()
	p.Wait()
	// The next allocator takes the lock over and finds a consistent
	// directory: the dead one's entry was never counted.
	b, err := shm.NewBytes(seg, "after", 100)
	if err != nil {
		t.Fatalf("NewBytes after the allocator died holding the lock: %v", err)
	}
	if _, err := shm.OpenBytes(seg, "doomed"); !errors.Is(err, shm.ErrNotExist) {
		t.Fatalf("the dead allocator's object = %v, want ErrNotExist", err)
	}
	objs := seg.Objects()
	if len(objs) != 2 || objs[1].Name != "after" || len(b) != 100 {
		t.Fatalf("Objects = %+v", objs)
	}
	// And the file re-validates.
	f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", seg.File().Fd()), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	again, err := shm.FromFile(f, "")
	if err != nil {
		t.Fatalf("re-opening the segment: %v", err)
	}
	again.Close()
}

package shm

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Dir is the directory that holds named segments: the tmpfs that POSIX
// shm_open uses on Linux.
const Dir = "/dev/shm"

// Create makes a new named segment of size bytes, visible to other processes
// as Dir/name. The file is created exclusively (O_EXCL, O_NOFOLLOW) with mode
// 0600; its memory is reserved at once (fallocate), so a segment larger than
// /dev/shm can hold fails here with ErrNoSpace rather than with a SIGBUS
// later. The segment becomes visible under its name only once its header is
// complete, so Open never sees a half-built one. It returns ErrExist if the
// name is taken and ErrBadName for an invalid name.
//
// A named segment outlives its processes until Remove.
func Create(name string, size int64) (*Segment, error) {
	if err := ValidateName(name); err != nil {
		return nil, &Error{Op: "create", Segment: name, Offset: -1, Err: err}
	}
	return createAt(Dir, name, filepath.Join(Dir, name), size)
}

// Open maps the named segment Dir/name that another process created. The file
// must be a regular file owned by this user and not writable by group or
// others; symbolic links are not followed. The header and directory are
// validated: ErrCorrupt, ErrVersion or ErrNotExist explain a refusal.
func Open(name string) (*Segment, error) {
	if err := ValidateName(name); err != nil {
		return nil, &Error{Op: "open", Segment: name, Offset: -1, Err: err}
	}
	return openAt(name, filepath.Join(Dir, name))
}

// Remove removes the named segment Dir/name. Processes that have it mapped
// keep their mapping; its memory is freed when the last of them closes it.
func Remove(name string) error {
	if err := ValidateName(name); err != nil {
		return &Error{Op: "remove", Segment: name, Offset: -1, Err: err}
	}
	path := filepath.Join(Dir, name)
	if err := unix.Unlink(path); err != nil {
		return &Error{Op: "remove", Segment: name, Offset: -1, Err: osError("unlink", path, err)}
	}
	return nil
}

// CreateFile makes a new segment of size bytes in a file at path, for state
// that must outlive every process (and survive a reboot on a disk-backed file
// system). The file is created exclusively with mode 0600 and appears at path
// only once its header is complete. It returns ErrExist if path exists.
func CreateFile(path string, size int64) (*Segment, error) {
	return createAt(filepath.Dir(path), path, path, size)
}

// OpenFile maps the segment in the file at path, with the same checks as Open.
func OpenFile(path string) (*Segment, error) {
	return openAt(path, path)
}

// CreateAnon makes a new anonymous segment of size bytes (memfd_create). It
// has no name and leaks nothing: its memory is freed when the last process
// that maps it or holds its file closes it or exits, however it exits. Pass it
// to children with spawn. Its size is sealed (F_SEAL_SHRINK, F_SEAL_GROW), so
// no process can truncate it under another's mapping.
func CreateAnon(size int64) (*Segment, error) {
	if err := checkSize(size); err != nil {
		return nil, &Error{Op: "create", Offset: -1, Err: err}
	}
	fd, err := unix.MemfdCreate("shmkit", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, &Error{Op: "create", Offset: -1, Err: os.NewSyscallError("memfd_create", err)}
	}
	f := os.NewFile(uintptr(fd), "memfd:shmkit")
	s, err := build(f, "", "memory", size, func() error {
		_, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL)
		return os.NewSyscallError("fcntl(F_ADD_SEALS)", err)
	})
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// FromFile maps the segment held by f, an open file such as one inherited
// from a parent process or received over a unix socket. name is what Name
// reports. The segment takes ownership of f and closes it on Close, also when
// FromFile fails.
func FromFile(f *os.File, name string) (*Segment, error) {
	s, err := mapOpen(f, name, "open")
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

func checkSize(size int64) error {
	if size < MinSize {
		return fmt.Errorf("%w: size %d is below the minimum segment size %d", fs.ErrInvalid, size, MinSize)
	}
	if uint64(size) > math.MaxInt {
		return fmt.Errorf("%w: size %d does not fit this machine's address space", fs.ErrInvalid, size)
	}
	return nil
}

// createAt creates a segment file at path in dir. display names it in errors.
// It builds the segment in an unnamed O_TMPFILE file and links it into place
// only when complete; where O_TMPFILE is not supported it creates path with
// O_EXCL and publishes the header by writing its magic number last.
func createAt(dir, display, path string, size int64) (*Segment, error) {
	if err := checkSize(size); err != nil {
		return nil, &Error{Op: "create", Segment: display, Offset: -1, Err: err}
	}
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err == nil {
		f := os.NewFile(uintptr(fd), path)
		s, err := build(f, display, dir, size, func() error {
			err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
			if err != nil {
				return osError("link", path, err)
			}
			return nil
		})
		if err != nil {
			f.Close()
			return nil, err
		}
		return s, nil
	}
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EINVAL) {
		return nil, &Error{Op: "create", Segment: display, Offset: -1, Err: &fs.PathError{Op: "open", Path: dir, Err: err}}
	}
	// No O_TMPFILE on this file system.
	fd, err = unix.Open(path, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &Error{Op: "create", Segment: display, Offset: -1, Err: osError("open", path, err)}
	}
	f := os.NewFile(uintptr(fd), path)
	s, err := build(f, display, dir, size, nil)
	if err != nil {
		f.Close()
		unix.Unlink(path)
		return nil, err
	}
	return s, nil
}

// build sizes and reserves f, maps it, writes the header, and runs publish
// (linking the file into place, or sealing it).
func build(f *os.File, display, where string, size int64, publish func() error) (*Segment, error) {
	fail := func(err error) (*Segment, error) {
		return nil, &Error{Op: "create", Segment: display, Offset: -1, Err: err}
	}
	if err := unix.Fchmod(int(f.Fd()), 0o600); err != nil {
		return fail(os.NewSyscallError("fchmod", err))
	}
	// Memory-backed files (memfd, tmpfs) take their pages from memory at
	// once: a memfd has no size limit of its own, so reserving more than
	// the machine can give would summon the out-of-memory killer instead of
	// failing. Refuse it now.
	if inMemory(f) {
		if avail, ok := availableMemory(); ok && uint64(size) > avail {
			return fail(fmt.Errorf("%w: cannot reserve %d bytes in %s: only %d bytes of memory are available", ErrNoSpace, size, where, avail))
		}
	}
	if err := reserve(f, size); err != nil {
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.EFBIG) {
			return fail(fmt.Errorf("%w: cannot reserve %d bytes in %s (%w)", ErrNoSpace, size, where, err))
		}
		return fail(err)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail(os.NewSyscallError("mmap", err))
	}
	initHeader(mem, size)
	if publish != nil {
		if err := publish(); err != nil {
			unmap(mem)
			return fail(err)
		}
	}
	s, err := attach(f, display, mem, "create")
	if err != nil {
		unmap(mem)
		return nil, err
	}
	return s, nil
}

// inMemory reports whether f lives in memory (tmpfs, or a memfd, which is a
// tmpfs file too).
func inMemory(f *os.File) bool {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return false
	}
	return st.Type == unix.TMPFS_MAGIC || st.Type == unix.HUGETLBFS_MAGIC
}

// availableMemory returns the bytes this process can still have: the
// kernel's MemAvailable estimate, or less if its cgroup (v2) has a lower
// limit.
func availableMemory() (uint64, bool) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	var avail uint64
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				avail, found = kb*1024, true
			}
		}
	}
	if !found {
		return 0, false
	}
	max, err1 := os.ReadFile("/sys/fs/cgroup/memory.max")
	cur, err2 := os.ReadFile("/sys/fs/cgroup/memory.current")
	if err1 == nil && err2 == nil {
		m, errm := strconv.ParseUint(strings.TrimSpace(string(max)), 10, 64) // "max": no limit
		c, errc := strconv.ParseUint(strings.TrimSpace(string(cur)), 10, 64)
		if errm == nil && errc == nil && m > c {
			avail = min(avail, m-c)
		}
	}
	return avail, true
}

// reserve gives f its size and allocates its blocks, so that running out of
// memory or space is reported now and not as a SIGBUS on first touch.
func reserve(f *os.File, size int64) error {
	for {
		err := unix.Fallocate(int(f.Fd()), 0, 0, size)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS):
			return f.Truncate(size)
		default:
			return os.NewSyscallError("fallocate", err)
		}
	}
}

// openAt opens the segment file at path, checking ownership and permissions.
func openAt(display, path string) (*Segment, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			err = fmt.Errorf("%w: %s is a symbolic link, which is never followed", fs.ErrPermission, path)
		} else {
			err = osError("open", path, err)
		}
		return nil, &Error{Op: "open", Segment: display, Offset: -1, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	if err := checkOwner(f); err != nil {
		f.Close()
		return nil, &Error{Op: "open", Segment: display, Offset: -1, Err: err}
	}
	s, err := mapOpen(f, display, "open")
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// checkOwner refuses a file that another user owns, that is not a regular
// file, or that group or others may write: such a file may be changed under
// this process by someone it does not trust.
func checkOwner(f *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return os.NewSyscallError("fstat", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%w: %s is not a regular file", fs.ErrPermission, f.Name())
	}
	if uid := uint32(os.Geteuid()); st.Uid != uid {
		return fmt.Errorf("%w: %s is owned by uid %d, not by this process's uid %d", fs.ErrPermission, f.Name(), st.Uid, uid)
	}
	if st.Mode&0o022 != 0 {
		return fmt.Errorf("%w: %s has mode %#o: group or others may write it", fs.ErrPermission, f.Name(), st.Mode&0o777)
	}
	return nil
}

// mapOpen maps an existing segment file and validates it.
func mapOpen(f *os.File, display, op string) (*Segment, error) {
	fail := func(flt *fault) (*Segment, error) {
		return nil, &Error{Op: op, Segment: display, Field: flt.field, Offset: flt.off, Err: flt.err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, &Error{Op: op, Segment: display, Offset: -1, Err: os.NewSyscallError("fstat", err)}
	}
	if st.Size < HeaderSize {
		return fail(faultf("", -1, ErrCorrupt, "file is %d bytes, shorter than the %d-byte header", st.Size, HeaderSize))
	}
	// Read the header before mapping, so a file with a bad header is refused
	// without mapping however many bytes it claims.
	var hdr [HeaderSize]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return nil, &Error{Op: op, Segment: display, Offset: -1, Err: err}
	}
	if _, flt := checkHeader(hdr[:], st.Size); flt != nil {
		return fail(flt)
	}
	if uint64(st.Size) > math.MaxInt {
		return fail(faultf("size", offSize, ErrCorrupt, "size %d does not fit this machine's address space", st.Size))
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, &Error{Op: op, Segment: display, Offset: -1, Err: os.NewSyscallError("mmap", err)}
	}
	s, err := attach(f, display, mem, op)
	if err != nil {
		unmap(mem)
		return nil, err
	}
	return s, nil
}

func unmap(mem []byte) error {
	if err := unix.Munmap(mem); err != nil {
		return os.NewSyscallError("munmap", err)
	}
	return nil
}

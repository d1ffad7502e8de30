// Package shm maps shared memory segments and keeps a directory of named
// objects inside each, so that processes can find the same lock, queue or
// array by name.
//
// A segment is one of three backings, all the same *Segment:
//
//   - named: Create, Open and Remove a file under /dev/shm (what POSIX
//     shm_open uses), for unrelated processes that agree on a name;
//   - anonymous: CreateAnon, a memfd with no name at all, which nothing can
//     leak: its memory goes when the last process holding it exits. Hand it
//     to children with spawn;
//   - file-backed: CreateFile and OpenFile, for state that must outlive every
//     process.
//
// The smallest use, between goroutines here but the same between processes:
//
//	seg, err := shm.CreateAnon(1 << 20)
//	if err != nil { ... }
//	defer seg.Close()
//	buf, err := shm.NewBytes(seg, "greeting", 64) // zeroed, 64-byte aligned
//	copy(buf, "hello")
//
// The other packages of shmkit (lock, semaphore, event, value, array, ring)
// keep their objects in a segment through Alloc and Lookup; NewBytes and
// OpenBytes give a raw region to bring your own layout to.
//
// # Memory layout
//
// All integers are in the machine's byte order (little-endian on amd64 and
// arm64). docs/layout.md is the complete byte-level specification.
//
//	offset  size  field        written by                      how
//	0       8     magic        creator, last of the header     "\x89SHMKIT\n"
//	8       4     version      creator                         Version (3)
//	12      4     header_size  creator                         256
//	16      8     size         creator                         total bytes = file size
//	24      4     dir_offset   creator                         256
//	28      4     dir_cap      creator                         entries: size/2048 in [32, 8192]
//	32      8     heap_offset  creator                         256 + 64*dir_cap
//	40      8     created      creator                         Unix nanoseconds
//	48      8     creator      creator                         pid<<32 | start time
//	64      8     alloc_lock   allocators                      robust lock word
//	72      8     heap_next    allocator, under alloc_lock     atomic store
//	80      4     dir_used     allocator, under alloc_lock     atomic store, last
//	256     64*n  directory    allocators                      entries, below
//	heap_offset   objects      their packages
//
// A directory entry is 64 bytes:
//
//	offset  size  field    meaning
//	0       4     state    0 free, 1 being initialised, 2 ready, 3 abandoned
//	4       4     kind     Kind of the object
//	8       8     offset   object's offset in the segment, a multiple of 64
//	16      8     size     object's size in bytes
//	24      8     creator  pid<<32 | start time of the creating process
//	32      32    name     NUL-padded, 1 to 32 bytes of [A-Za-z0-9._-]
//
// # Algorithm
//
// Allocation is a bump allocator under a robust lock (the lock word at
// offset 64, see lock.Mutex): the allocator checks that the name is free,
// writes the new entry beyond dir_used with state 1, advances heap_next, and
// then stores dir_used+1, which makes the entry part of the directory. It
// releases the lock before initialising the object, so a slow initialiser
// delays nobody, and stores state 2 (release ordering) once the object is
// complete. Lookup scans entries below dir_used and returns only state 2:
// no process ever sees a half-built object. Space is never reused; a segment
// is sized for the objects it will hold.
//
// Every offset, size, count and name read from the segment is checked
// before use: a peer may be buggy, killed mid-write or hostile. Open
// validates magic, version, sizes, directory bounds, names, overlaps and
// duplicates, in that order, and reports the first fault as ErrCorrupt or
// ErrVersion in an *Error that names the segment, the field and its offset.
// Lookup re-checks the entry it returns.
//
// # Crash behaviour
//
// A process killed with SIGKILL at any point leaves a usable segment:
//
//   - while holding the allocation lock: the next allocator takes the lock
//     over (within 25 ms) and finds a consistent directory, because the
//     entry becomes visible only with the final store of dir_used. At worst
//     the space of the interrupted allocation is lost;
//   - while initialising an object (state 1): the object never becomes
//     visible; the next Alloc or Lookup of its name sees that its creator
//     (pid and start time) has died, marks the entry abandoned (state 3), and
//     the name can be created again. Its space is not reused;
//   - at any other time: nothing in the segment depends on it.
//
// An anonymous segment is freed when its last holder exits, however it exits.
// A named segment stays in /dev/shm until Remove; a file-backed one until its
// file is deleted.
//
// A named or file-backed segment's file could be truncated by another
// process of the same user; a later access to the missing pages would then
// raise SIGBUS. Anonymous segments are sealed against this. Segment.Check
// detects a truncation, and Guard turns the SIGBUS of an access it wraps
// into ErrTruncated (Go allows that for faults in the goroutine that runs
// the access; a fault elsewhere still ends the program).
//
// Creating a segment reserves its memory or disk blocks at once
// (fallocate). A memory-backed segment (anonymous, or under /dev/shm)
// larger than the memory the machine and this process's cgroup have
// available is refused with ErrNoSpace: a memfd has no size limit of its
// own, and reserving more than memory holds would wake the out-of-memory
// killer rather than fail.
//
// # Compatibility
//
// Version is the layout version. Any change to the bytes of the header, the
// directory or any object kind increments it, and Open refuses a segment of
// another version with ErrVersion; processes sharing a segment must use
// builds of shmkit with the same layout version. Kind numbers never change.
package shm

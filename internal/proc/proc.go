// Package proc identifies processes in a way that survives pid reuse.
//
// A process is identified by its pid and its start time in clock ticks since
// boot (field 22 of /proc/PID/stat), packed into one 64-bit word:
//
//	bits 63..32  pid (at most 2^22 on Linux, so bits 63 and 62 are always 0)
//	bits 31..0   start time in clock ticks, low 32 bits
//
// Two processes that share a pid never share a start time unless the pid
// wrapped around within one clock tick, so an Identity read from shared memory
// names exactly one process. Every primitive that must notice the death of a
// holder (robust mutexes, abandoned queue slots, semaphore holders, barrier
// parties) records an Identity and asks [Alive] about it.
//
// All processes that share a segment must live in the same pid namespace:
// a pid means nothing in another one.
package proc

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"sync"
	"syscall"
)

// Identity is a pid and a start time packed as described in the package doc.
// The zero Identity names no process.
type Identity uint64

// Pid returns the process id part of id.
func (id Identity) Pid() int { return int(uint64(id) >> 32) }

// Start returns the low 32 bits of the start time, in clock ticks since boot.
func (id Identity) Start() uint32 { return uint32(id) }

// Make packs a pid and a start time.
func Make(pid int, start uint64) Identity {
	return Identity(uint64(uint32(pid))<<32 | uint64(uint32(start)))
}

var self struct {
	once sync.Once
	id   Identity
	pid  int
}

// Self returns the identity of the calling process. It is computed once;
// it reads /proc/self/stat, and falls back to a start time of 0 where /proc
// is not mounted (liveness checks then fall back to kill(pid, 0)).
func Self() Identity {
	self.once.Do(func() {
		pid := os.Getpid()
		start, err := StartTime(pid)
		if err != nil {
			start = 0
		}
		self.id = Make(pid, start)
		self.pid = pid
	})
	return self.id
}

// ErrNoProcess reports that a process does not exist, or exists only as a
// zombie waiting to be reaped.
var ErrNoProcess = errors.New("no such process")

// StartTime returns the start time of pid in clock ticks since boot.
// It returns ErrNoProcess if pid does not exist or is a zombie.
func StartTime(pid int) (uint64, error) {
	start, state, err := stat(pid)
	if err != nil {
		return 0, err
	}
	if state == 'Z' || state == 'X' || state == 'x' {
		return 0, ErrNoProcess
	}
	return start, nil
}

// stat reads the state and start time fields of /proc/PID/stat.
func stat(pid int) (start uint64, state byte, err error) {
	var buf [512]byte
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			return 0, 0, ErrNoProcess
		}
		return 0, 0, err
	}
	n, err := f.Read(buf[:])
	f.Close()
	if err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return 0, 0, ErrNoProcess
		}
		return 0, 0, err
	}
	return parseStat(buf[:n])
}

var errBadStat = errors.New("proc: malformed /proc/PID/stat")

// parseStat extracts the state (field 3) and start time (field 22) from the
// contents of /proc/PID/stat. The command name (field 2) is in parentheses
// and may itself contain spaces and parentheses, so parsing starts after the
// last ')'.
func parseStat(b []byte) (start uint64, state byte, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, 0, errBadStat
	}
	fields := bytes.Fields(b[i+1:])
	// fields[0] is field 3 (state); field 22 is fields[19].
	if len(fields) < 20 || len(fields[0]) != 1 {
		return 0, 0, errBadStat
	}
	start, err = strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return 0, 0, errBadStat
	}
	return start, fields[0][0], nil
}

// PidAlive reports whether a process with this pid runs (a zombie does not).
// It cannot tell pid reuse; use Alive when the start time is known.
func PidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	_, state, err := stat(pid)
	switch {
	case err == nil:
		return state != 'Z' && state != 'X' && state != 'x'
	case errors.Is(err, ErrNoProcess):
		return false
	default:
		return exists(pid)
	}
}

// Alive reports whether the process named by id is still running. A zombie
// (exited, not yet reaped) is not alive. A pid that now belongs to a process
// with another start time is not alive: the process id named has died and
// the pid was reused.
//
// When /proc cannot be read, Alive falls back to kill(pid, 0), which cannot
// see pid reuse.
func Alive(id Identity) bool {
	pid := id.Pid()
	if pid <= 0 {
		return false
	}
	if id == Self() {
		return true
	}
	start, state, err := stat(pid)
	switch {
	case err == nil:
		if state == 'Z' || state == 'X' || state == 'x' {
			return false
		}
		if Self().Start() == 0 {
			// /proc/self was unreadable when we started: start times are
			// not comparable.
			return true
		}
		return uint32(start) == id.Start()
	case errors.Is(err, ErrNoProcess):
		return false
	default:
		return exists(pid)
	}
}

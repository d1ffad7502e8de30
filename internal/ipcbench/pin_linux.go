package ipcbench

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// PinThread locks the calling goroutine to its OS thread and restricts that
// thread to cpu (sched_setaffinity). The returned function restores the
// thread's CPUs and unlocks it.
func PinThread(cpu int) (undo func(), err error) {
	runtime.LockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("pin to CPU %d: %w", cpu, err)
	}
	return func() {
		unix.SchedSetaffinity(0, &old)
		runtime.UnlockOSThread()
	}, nil
}

// pinProcess restricts every thread of this process to cpus (threads
// started later inherit it from their creator) and returns the function that
// gives each thread back the CPUs it had.
func pinProcess(cpus []int) (undo func(), err error) {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	var self unix.CPUSet
	if err := unix.SchedGetaffinity(0, &self); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	old := map[int]unix.CPUSet{}
	tids, err := threads()
	if err != nil {
		return nil, err
	}
	for _, tid := range tids {
		var s unix.CPUSet
		if unix.SchedGetaffinity(tid, &s) != nil {
			continue // exited
		}
		old[tid] = s
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
			return nil, fmt.Errorf("pin to CPUs %v: %w", cpus, err)
		}
	}
	return func() {
		tids, _ := threads()
		for _, tid := range tids {
			s, ok := old[tid]
			if !ok {
				s = self
			}
			unix.SchedSetaffinity(tid, &s)
		}
	}, nil
}

// threads lists the thread ids of this process.
func threads() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	var tids []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

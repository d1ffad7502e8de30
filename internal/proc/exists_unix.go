//go:build unix

package proc

import (
	"errors"
	"syscall"
)

// exists reports whether pid exists, by kill(pid, 0); it cannot see pid
// reuse, and is used only where /proc cannot be read.
func exists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

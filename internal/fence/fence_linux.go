package fence

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// membarrier(2) commands.
const (
	cmdQuery                   = 0
	cmdGlobalExpedited         = 1 << 1
	cmdRegisterGlobalExpedited = 1 << 2
	needed                     = cmdGlobalExpedited | cmdRegisterGlobalExpedited
)

// canHeavy is true when this process may issue MEMBARRIER_CMD_GLOBAL_EXPEDITED.
var canHeavy = probe()

func membarrier(cmd int) (uintptr, unix.Errno) {
	r, _, errno := unix.RawSyscall(unix.SYS_MEMBARRIER, uintptr(cmd), 0, 0)
	return r, errno
}

func probe() bool {
	if runtime.GOARCH != "amd64" {
		return false // no process publishes with plain stores: not needed
	}
	r, errno := membarrier(cmdQuery)
	return errno == 0 && r&needed == needed
}

func enable() {
	if !canHeavy {
		return
	}
	// Not RawSyscall: this one blocks for a grace period.
	if _, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, cmdRegisterGlobalExpedited, 0, 0); errno != 0 {
		return
	}
	light.Store(true)
}

func heavy() {
	if canHeavy {
		membarrier(cmdGlobalExpedited)
	}
}

//go:build !linux

package futex

import (
	"errors"
	"time"
)

// errUnsupported is returned on systems without futexes.
var errUnsupported = errors.ErrUnsupported

func wait(addr *uint32, val uint32, deadline time.Time) error { return errUnsupported }

func wake(addr *uint32, n int) int { return 0 }

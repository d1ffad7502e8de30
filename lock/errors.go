package lock

import "errors"

// ErrOwnerDead reports that the previous holder of a lock died while holding
// it. The lock is now held by the caller, which should check and repair the
// data the lock protects before unlocking, as after a POSIX robust mutex's
// EOWNERDEAD.
var ErrOwnerDead = errors.New("lock: previous holder died holding the lock")

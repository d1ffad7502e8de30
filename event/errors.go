package event

import "errors"

// ErrBroken reports that a Barrier is broken: Abort was called, a waiter's
// context ended, a party process died, or Reset was called while the caller
// waited. Every goroutine waiting on the barrier gets it, and so does every
// later Wait until Reset.
var ErrBroken = errors.New("event: barrier is broken")

package semaphore

import "errors"

// ErrOverRelease reports a Release that would raise a bounded semaphore
// above its initial value (more releases than acquisitions), or any
// semaphore above MaxValue. The value is left unchanged.
var ErrOverRelease = errors.New("semaphore: released more units than were acquired")

// Package spawn starts child processes that run a Go function of the same
// program, and hands them shared memory segments.
//
// Go cannot fork a running program, so spawn re-executes it: the child is
// the same binary, started afresh, whose Main finds the registered function
// by name and runs it. This is Python's "spawn" start method, and the safe
// one: the child inherits no locks held by other threads, no half-finished
// goroutines, nothing but what it is given.
//
//	var worker = spawn.Register("worker", func(ctx context.Context, c *spawn.Child) error {
//		seg := c.Segments()[0] // mapped, ready to use
//		...
//		return nil // exit status 0; an error gives status 1 and its text
//	})
//
//	func main() {
//		spawn.Main() // first: in a child, runs the function and exits
//		seg, _ := shm.CreateAnon(1 << 20)
//		p, err := worker.Start(ctx, spawn.Options{Segments: []*shm.Segment{seg}})
//		...
//		err = p.Wait() // nil, or *spawn.ExitError with the child's error text
//	}
//
// Register functions at package level or in init, so that registration
// happens identically in every process; call Main first in main() and in
// TestMain.
//
// # Protocol
//
// The child runs /proc/self/exe (the running binary, even if its file was
// replaced since) with the caller's arguments and environment plus
// SHMKIT_SPAWN_FUNC (the function's name) and SHMKIT_SPAWN_SEGS (a JSON list
// of the segments' names), and these inherited descriptors:
//
//	fd 3   status pipe, child → parent: 'R' when the function is about to
//	       run, then 'E' and the error or panic text if it fails
//	fd 4   control pipe, parent → child: never written; EOF means the
//	       parent died
//	fd 5…  the segments, in the order of Options.Segments
//
// Start returns when the child reports 'R', so a child that cannot map its
// segments or cannot find its function is an error from Start.
//
// # Crash behaviour
//
// A child dies when its parent dies, unless Options.Outlive is set: the
// child watches the control pipe and kills itself with SIGKILL at EOF. The
// pipe follows the parent process, not one of its threads (the trouble with
// PR_SET_PDEATHSIG in Go, go.dev/issue/27505), and a parent that died before
// the child started watching is noticed at once, since EOF persists. An
// Outlive child's context is cancelled instead.
//
// A child killed by a signal is reported by Wait as an *ExitError with that
// Signal; Kill, Terminate and Signal use a pidfd, so they can never reach
// another process that reused the child's pid.
package spawn

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
// # Pool
//
// A Pool runs registered tasks in worker processes: Python's
// multiprocessing.Pool, in one line per call, and robust to killed
// workers.
//
//	var square = spawn.RegisterTask("square", func(ctx context.Context, x int) (int, error) {
//		return x * x, nil
//	})
//
//	pool, _ := spawn.NewPool(ctx, spawn.PoolOptions{Workers: 4})
//	defer func() { pool.Close(); pool.Wait() }()
//	squares, err := square.Map(ctx, pool, numbers) // pool.map(square, numbers)
//	for r := range square.MapUnordered(ctx, pool, numbers) { ... } // imap_unordered
//	f, _ := square.Submit(ctx, pool, 7)                          // apply_async
//	v, err := f.Wait(ctx)
//
// Tasks take and return any types: []byte and string as they are,
// fixed-size types without pointers as their bytes (BinaryCodec), others
// through gob, or any Codec given to RegisterTaskCodec. A task's error or
// panic reaches the caller as a *TaskError naming the input; it never
// harms the pool.
//
// Transport: the pool pushes requests to each worker over an SPSC ring of
// its own, and all workers send results on one ring.Queue, all in one
// anonymous segment; inputs and outputs larger than a message are cut into
// fragments. Inputs travel in chunks (Python's chunksize), about four per
// worker by default. Because the pool chooses the worker, it always knows
// which inputs each worker holds and which one it is running (a status
// word in shared memory says so).
//
// When a worker dies, however it dies, the pool notices at once (it waits
// on every worker), starts a replacement, sends the inputs the dead worker
// held but had not started to other workers, and runs the one it was
// running again, up to PoolOptions.Retries times; a chunk is split into
// single inputs, so that an input that kills workers fails alone, with a
// *TaskError wrapping a *WorkerDiedError that carries the exit status.
// MaxTasksPerWorker replaces workers after a number of inputs, as Python's
// maxtasksperchild does. Terminate kills every worker at once; Close lets
// the calls made so far finish.
//
// # Output and logs
//
// A child's standard output and error reach the parent's line by line, each
// line prefixed with the child's name and pid ("[worker 4242] ...");
// Options.OutputPrefix changes the prefix and Options.RawOutput passes
// output through untouched. With Options.Logger (PoolOptions.Logger) set,
// the records a child logs through Child.Logger or Logger(ctx) travel to
// the parent's logger over a ring, with their levels and attributes:
// Python's QueueHandler and QueueListener in one field.
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
//
// A pool worker killed at any point costs at most a retry of the chunk it
// was running (split into single inputs): inputs it held but had not
// started go elsewhere, results it had sent whole are kept, and fragments
// of a result it had not finished sending are dropped. Outputs may thus be
// computed more than once, never lost and never delivered twice.
package spawn

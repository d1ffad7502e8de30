package spawn

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
)

// A Task is a function registered to run in the worker processes of a
// Pool: Python's pool.map(square, numbers) is square.Map(ctx, pool,
// numbers). Make one with RegisterTask at package level, so that it exists
// in the parent and in every worker.
type Task[In, Out any] struct {
	name string
	in   Codec[In]
	out  Codec[Out]
}

// Name returns the name the task was registered under.
func (t *Task[In, Out]) Name() string { return t.name }

// runner runs a task on an encoded input and returns the encoded output.
type runner func(ctx context.Context, in []byte, out []byte) ([]byte, error)

var (
	tasksMu sync.RWMutex
	tasks   = map[string]runner{}
)

// RegisterTask registers fn under name as a pool task, with DefaultCodec
// for its input and output types. Call it at package level (a package
// variable) or in init, like Register. It panics if name is empty or taken.
//
//	var square = spawn.RegisterTask("square", func(ctx context.Context, x int) (int, error) {
//		return x * x, nil
//	})
func RegisterTask[In, Out any](name string, fn func(ctx context.Context, in In) (Out, error)) *Task[In, Out] {
	return RegisterTaskCodec(name, fn, DefaultCodec[In](), DefaultCodec[Out]())
}

// RegisterTaskCodec is RegisterTask with the codecs given.
func RegisterTaskCodec[In, Out any](name string, fn func(ctx context.Context, in In) (Out, error), in Codec[In], out Codec[Out]) *Task[In, Out] {
	if name == "" || fn == nil {
		panic("spawn: RegisterTask needs a name and a function")
	}
	tasksMu.Lock()
	defer tasksMu.Unlock()
	if _, ok := tasks[name]; ok {
		panic("spawn: task " + name + " registered twice")
	}
	tasks[name] = func(ctx context.Context, src []byte, dst []byte) ([]byte, error) {
		x, err := in.Decode(src)
		if err != nil {
			return dst, fmt.Errorf("spawn: task %s: decoding its input: %w", name, err)
		}
		y, err := fn(ctx, x)
		if err != nil {
			return dst, err
		}
		return out.Append(dst, y)
	}
	return &Task[In, Out]{name: name, in: in, out: out}
}

func lookupTask(name string) runner {
	tasksMu.RLock()
	defer tasksMu.RUnlock()
	return tasks[name]
}

// runItem runs one input through r, turning a panic into an error.
func runItem(ctx context.Context, r runner, in, out []byte) (res []byte, status byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, status, err = out, statusPanic, fmt.Errorf("panic: %v\n\n%s", p, debug.Stack())
		}
	}()
	res, err = r(ctx, in, out)
	if err != nil {
		return out, statusError, err
	}
	return res, statusOK, nil
}

// Outcomes of one item in a result.
const (
	statusOK    = 0
	statusError = 1 // the task returned an error
	statusPanic = 2 // the task panicked
)

// TaskError reports a task that failed on one input: it returned an error,
// panicked, or its worker died running it more times than the pool retries.
type TaskError struct {
	Task  string // the task's name
	Index int    // the input's index in the Map call (0 for Submit)
	// Message is the error's text, or the panic's value and stack: an
	// error made in another process reaches this one as text.
	Message string
	Panic   bool  // the task panicked
	Err     error // for a dead worker: the *WorkerDiedError; otherwise nil
}

func (e *TaskError) Error() string {
	s := fmt.Sprintf("spawn: task %s, input %d: ", e.Task, e.Index)
	if e.Err != nil {
		return s + e.Err.Error()
	}
	return s + e.Message
}

// Unwrap returns the *WorkerDiedError of a task whose worker died.
func (e *TaskError) Unwrap() error { return e.Err }

// WorkerDiedError reports that a pool worker died while running a task, and
// that the pool gave up after retrying it.
type WorkerDiedError struct {
	Pid      int
	Attempts int   // how many workers died running this input
	Exit     error // the last worker's *ExitError: its exit code or signal
}

func (e *WorkerDiedError) Error() string {
	return fmt.Sprintf("worker died running it %d times; last: %v", e.Attempts, e.Exit)
}

// Unwrap returns the last worker's *ExitError.
func (e *WorkerDiedError) Unwrap() error { return e.Exit }

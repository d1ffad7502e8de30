package spawn

import (
	"context"
	"fmt"
	"iter"
)

// encode encodes a call's inputs with the task's codec, into one buffer.
func (t *Task[In, Out]) encode(xs []In) (*inputs, error) {
	in := &inputs{off: make([]uint32, 1, len(xs)+1)}
	for i, x := range xs {
		var err error
		if in.buf, err = t.in.Append(in.buf, x); err != nil {
			return nil, &TaskError{Task: t.name, Index: i, Message: "encoding the input: " + err.Error(), Err: err}
		}
		if uint64(len(in.buf)) > 1<<32-1 {
			return nil, &TaskError{Task: t.name, Index: i, Message: "the inputs of one call exceed 4 GiB"}
		}
		in.off = append(in.off, uint32(len(in.buf)))
	}
	return in, nil
}

func (t *Task[In, Out]) decode(i int, data []byte) (Out, error) {
	v, err := t.out.Decode(data)
	if err != nil {
		return v, &TaskError{Task: t.name, Index: i, Message: "decoding the output: " + err.Error(), Err: err}
	}
	return v, nil
}

// Map runs the task on every input in the pool's workers and returns the
// outputs in the order of the inputs: Python's pool.map. Inputs travel in
// chunks (PoolOptions.ChunkSize, automatic by default).
//
// If inputs fail, every input still runs (as with Python) and Map returns
// the failure of the lowest-index one, a *TaskError naming that index: the
// task returned an error, panicked, or its worker died more than
// PoolOptions.Retries times running it. So the error is the same however
// the work was spread. Map returns ErrPoolClosed after Close,
// ErrTerminated if Terminate ended it, or ctx.Err(), and then the inputs
// not yet started are dropped (those running finish, unseen).
func (t *Task[In, Out]) Map(ctx context.Context, p *Pool, inputs []In) ([]Out, error) {
	return t.MapChunks(ctx, p, inputs, 0)
}

// MapChunks is Map with chunks of chunk inputs (0: the pool's setting).
func (t *Task[In, Out]) MapChunks(ctx context.Context, p *Pool, inputs []In, chunk int) ([]Out, error) {
	items, err := t.encode(inputs)
	if err != nil {
		return nil, err
	}
	out := make([]Out, len(inputs))
	var failed error // written under the pool's lock, read after done
	failedAt := len(inputs)
	c, err := p.submit(t.name, items, chunk, func(c *call, i int, data []byte, err error) {
		if err == nil {
			out[i], err = t.decode(i, data)
		}
		if err != nil && i < failedAt {
			failed, failedAt = err, i // the lowest index wins; -1 (Terminate) wins all
		}
	})
	if err != nil {
		return nil, err
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		p.cancel(c)
		return nil, ctx.Err()
	}
	if failed != nil {
		return nil, failed
	}
	return out, nil
}

// Result is one outcome of MapUnordered.
type Result[Out any] struct {
	Index int // the input's index; -1 for an error that ends the iteration
	Value Out
	Err   error // the input's *TaskError, or the error that ends the iteration
}

// MapUnordered runs the task on every input and yields each output as soon
// as it is ready, in whatever order the workers finish: Python's
// pool.imap_unordered. Failed inputs yield a Result with a *TaskError and
// the others go on. If ctx ends, or Terminate ends the call, it yields a
// last Result with Index -1 and that error. Breaking out of the loop stops
// the call's remaining work.
func (t *Task[In, Out]) MapUnordered(ctx context.Context, p *Pool, inputs []In) iter.Seq[Result[Out]] {
	return func(yield func(Result[Out]) bool) {
		items, err := t.encode(inputs)
		if err != nil {
			yield(Result[Out]{Index: -1, Err: err})
			return
		}
		var ready []Result[Out] // under the pool's lock
		notify := make(chan struct{}, 1)
		c, err := p.submit(t.name, items, 0, func(c *call, i int, data []byte, err error) {
			r := Result[Out]{Index: i, Err: err}
			if err == nil {
				r.Value, r.Err = t.decode(i, data)
			}
			ready = append(ready, r)
			select {
			case notify <- struct{}{}:
			default:
			}
		})
		if err != nil {
			yield(Result[Out]{Index: -1, Err: err})
			return
		}
		defer p.cancel(c)
		for got := 0; got < len(inputs); {
			p.mu.Lock()
			batch := ready
			ready = nil
			p.mu.Unlock()
			for _, r := range batch {
				got++
				if !yield(r) || r.Index < 0 {
					return
				}
			}
			if got == len(inputs) {
				return
			}
			select {
			case <-notify:
			case <-c.done:
				select {
				case notify <- struct{}{}: // look once more
				default:
				}
				p.mu.Lock()
				empty := len(ready) == 0
				p.mu.Unlock()
				if empty {
					return
				}
			case <-ctx.Done():
				yield(Result[Out]{Index: -1, Err: ctx.Err()})
				return
			}
		}
	}
}

// Future is the pending output of a task started with Submit: Python's
// AsyncResult.
type Future[Out any] struct {
	c     *call
	value Out
	err   error // set under the pool's lock, read after done
}

// Submit starts the task on one input in a worker and returns at once:
// Python's pool.apply_async. Cancelling ctx abandons the task: its Future
// then reports ctx.Err(). It returns ErrPoolClosed after Close.
func (t *Task[In, Out]) Submit(ctx context.Context, p *Pool, in In) (*Future[Out], error) {
	items, err := t.encode([]In{in})
	if err != nil {
		return nil, err
	}
	f := &Future[Out]{}
	f.c, err = p.submit(t.name, items, 1, func(c *call, i int, data []byte, err error) {
		if err == nil {
			f.value, err = t.decode(0, data)
		}
		f.err = err
	})
	if err != nil {
		return nil, err
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() {
			p.mu.Lock()
			if !f.c.finished {
				f.err = ctx.Err()
				p.endLocked(f.c)
			}
			p.mu.Unlock()
		})
		go func() { <-f.c.done; stop() }()
	}
	return f, nil
}

// Done returns a channel closed when the output is ready (or the task
// failed or was abandoned).
func (f *Future[Out]) Done() <-chan struct{} { return f.c.done }

// Wait waits for the output and returns it, or the task's *TaskError,
// ErrTerminated, or the Submit context's error. If ctx ends first, Wait
// returns ctx.Err() and the task goes on.
func (f *Future[Out]) Wait(ctx context.Context) (Out, error) {
	select {
	case <-f.c.done:
		return f.value, f.err
	case <-ctx.Done():
		var zero Out
		return zero, ctx.Err()
	}
}

// String describes the future's state.
func (f *Future[Out]) String() string {
	select {
	case <-f.c.done:
		if f.err != nil {
			return fmt.Sprintf("Future(failed: %v)", f.err)
		}
		return fmt.Sprintf("Future(%v)", f.value)
	default:
		return "Future(pending)"
	}
}

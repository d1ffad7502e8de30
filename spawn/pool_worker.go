package spawn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

// The pool's segment holds, by name:
//
//	results   the ring.Queue every worker sends results on
//	req.N     worker slot N's SPSC ring of requests
//	status    64 bytes per slot; word 0: the id of the attempt the slot's
//	          worker is running (0: none); word 1: the id of the last
//	          attempt whose result it sent whole
const (
	objResults   = "results"
	objStatus    = "status"
	statusStride = layout.CacheLine
)

func requestRing(slot int) string { return "req." + strconv.Itoa(slot) }

// poolWorker is the function pool workers run: args are the slot and the
// number of items after which it exits (0: no limit).
var poolWorker = register("spawn.pool.worker", runWorker, false)

func runWorker(ctx context.Context, c *Child) error {
	seg := c.Segments()[0]
	slot, err := strconv.Atoi(c.Args()[0])
	if err != nil {
		return fmt.Errorf("spawn: pool worker: bad slot %q", c.Args()[0])
	}
	maxItems, _ := strconv.Atoi(c.Args()[1])
	results, err := ring.OpenQueue(seg, objResults)
	if err != nil {
		return err
	}
	reqs, err := ring.OpenSPSC(seg, requestRing(slot))
	if err != nil {
		return err
	}
	st, err := shm.OpenBytes(seg, objStatus)
	if err != nil {
		return err
	}
	running := layout.U64(st, slot*statusStride)
	finished := layout.U64(st, slot*statusStride+8)
	w := &worker{slot: uint32(slot), results: results, reqs: reqs}
	ctx = context.WithValue(ctx, segmentsKey{}, c.Segments()[1:])
	done := 0
	for {
		id, body, err := w.next(ctx)
		if errors.Is(err, ring.ErrClosed) || errors.Is(err, io.EOF) {
			return nil // the pool closed
		}
		if err != nil {
			return err
		}
		// Publish what runs, so that the parent knows which request a
		// death of this process interrupted.
		atomic.StoreUint64(running, id)
		n, err := w.run(ctx, id, body)
		if err != nil {
			return err
		}
		// Its result is in the queue whole: the parent must not run it
		// again if this process dies now.
		atomic.StoreUint64(finished, id)
		atomic.StoreUint64(running, 0)
		done += n
		if maxItems > 0 && done >= maxItems {
			return nil // replaced by the pool
		}
	}
}

// segmentsKey carries PoolOptions.Segments in a task's context.
type segmentsKey struct{}

// Segments returns the segments a task's pool handed to its workers
// (PoolOptions.Segments), mapped, in order; nil outside a pool worker.
func Segments(ctx context.Context) []*shm.Segment {
	s, _ := ctx.Value(segmentsKey{}).([]*shm.Segment)
	return s
}

type worker struct {
	slot    uint32
	results *ring.Queue
	reqs    *ring.SPSC
	buf     []byte // a request being reassembled
	msg     []byte
	out     []byte
	frag    []byte
}

// next receives the fragments of one request and returns its id and body.
func (w *worker) next(ctx context.Context) (uint64, []byte, error) {
	w.buf = w.buf[:0]
	var id uint64
	for first := true; ; first = false {
		var err error
		if w.msg, err = w.reqs.Recv(ctx, w.msg); err != nil {
			return 0, nil, err
		}
		f, err := parseFragment(w.msg)
		if err != nil {
			return 0, nil, err
		}
		if first {
			id = f.id
		} else if f.id != id {
			return 0, nil, errWire
		}
		w.buf = append(w.buf, f.piece...)
		if f.last {
			return id, w.buf, nil
		}
	}
}

// run runs the request's items and sends the result; it returns how many
// items it ran.
func (w *worker) run(ctx context.Context, id uint64, body []byte) (int, error) {
	task, items, err := parseRequest(body)
	if err != nil {
		return 0, err
	}
	r := lookupTask(task)
	w.out = appendResultHeader(w.out[:0], len(items))
	var scratch []byte
	for _, in := range items {
		if r == nil {
			w.out = appendResultItem(w.out, statusError, []byte(errNotRegistered.Error()))
			continue
		}
		res, status, err := runItem(ctx, r, in, scratch[:0])
		if err != nil {
			w.out = appendResultItem(w.out, status, []byte(err.Error()))
			continue
		}
		w.out = appendResultItem(w.out, statusOK, res)
		scratch = res
	}
	return len(items), w.send(ctx, id, w.out)
}

// send cuts body into fragments that fit the result Queue's slots.
func (w *worker) send(ctx context.Context, id uint64, body []byte) error {
	room := w.results.SlotSize() - fragHeader
	for {
		n := min(len(body), room)
		w.frag = putFragment(w.frag[:0], id, w.slot, n == len(body), body[:n])
		if err := w.results.Send(ctx, w.frag); err != nil {
			return err
		}
		body = body[n:]
		if len(body) == 0 {
			return nil
		}
	}
}

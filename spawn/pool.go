package spawn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

// PoolOptions configures a Pool. The zero value means the defaults.
type PoolOptions struct {
	// Workers is the number of worker processes. Zero means
	// runtime.NumCPU().
	Workers int

	// MaxTasksPerWorker replaces a worker once it has run this many inputs
	// (Python's maxtasksperchild; it finishes the chunk it is in). Zero
	// means no limit.
	MaxTasksPerWorker int

	// Retries is how many times an input is run again after the worker
	// running it died, before its call fails with a *TaskError wrapping a
	// *WorkerDiedError. Zero means 2; negative means never.
	Retries int

	// ChunkSize is how many inputs of a Map go to a worker in one message
	// (Python's chunksize). Zero means automatic: about four chunks per
	// worker, fewer inputs per chunk when they are large.
	ChunkSize int

	// RingBytes is the size of each worker's request ring. Zero means
	// 256 KiB. Larger inputs are cut into pieces; a bigger ring moves them
	// in fewer.
	RingBytes int

	// ResultSlots and ResultSlotSize shape the queue results come back on.
	// Zero means 256 slots of 4 KiB; larger results are cut into pieces.
	ResultSlots, ResultSlotSize int

	// Segments are mapped in every worker; tasks find them with
	// Segments(ctx), in this order.
	Segments []*shm.Segment

	// Stdout, Stderr, OutputPrefix, RawOutput, Logger and Env are passed to
	// every worker, as in Options.
	Stdout, Stderr io.Writer
	OutputPrefix   string
	RawOutput      bool
	Logger         *slog.Logger
	Env            []string
}

// Errors of pool calls.
var (
	// ErrPoolClosed reports a call made after Close or Terminate.
	ErrPoolClosed = errors.New("spawn: pool closed")
	// ErrTerminated reports a call that Terminate ended.
	ErrTerminated = errors.New("spawn: pool terminated")
)

// PoolStats counts what happened to a pool's workers.
type PoolStats struct {
	Started  int // worker processes started, replacements included
	Deaths   int // workers that died (killed, crashed or failed), not counting normal exits
	Replaced int // workers replaced: after a death or MaxTasksPerWorker
	Retries  int // inputs run again because their worker died running them
}

// depth is how many requests a worker holds at once: one running, one
// ready to start the moment it finishes.
const depth = 2

// Pool is a pool of worker processes that run registered tasks: Python's
// multiprocessing.Pool, which keeps going when a worker is killed. Make
// one with NewPool; run tasks with Task.Map, Task.MapUnordered and
// Task.Submit. Its methods are safe for concurrent use.
//
// Workers are this program, started again by spawn, each with a ring of
// requests the pool pushes to it and a queue all of them send results on.
// The pool knows which inputs each worker holds and which one it is
// running: when a worker dies (detected at once, by its exit), the input it
// was running is retried up to Retries times in a new worker, the others it
// held are sent elsewhere, and a chunk is split so that one bad input fails
// alone.
type Pool struct {
	_       layout.NoCopy
	opt     PoolOptions
	retries int
	seg     *shm.Segment
	results *ring.Queue
	status  []byte
	ctx     context.Context // the workers' context: Terminate cancels it
	kill    context.CancelFunc

	mu       sync.Mutex
	slots    []*slot
	pending  []*request // waiting for a worker, oldest first
	attempts map[uint64]*attempt
	nextID   uint64
	calls    int // calls not yet done
	closing  bool
	stopped  bool // request rings closed: workers are exiting
	stats    PoolStats

	collecting   bool
	collected    chan struct{} // closed when the collector has stopped
	done         chan struct{} // closed by shutdown: nothing touches the segment any more
	shutdownOnce sync.Once
	live         sync.WaitGroup // one per worker, until its monitor has finished
}

// slot is one worker's place: its ring and status word outlive the worker,
// and its replacement takes them over.
type slot struct {
	i         int
	ring      *ring.SPSC
	running   *uint64 // status word 0: the attempt the worker runs
	finished  *uint64 // status word 1: the last attempt whose result it sent whole
	proc      *Process
	stopSend  context.CancelFunc
	inflight  map[uint64]*attempt
	queued    int // attempts handed to the sender and not yet written
	sendq     chan *attempt
	frag      []byte        // dispatchLocked's message buffer
	sent      chan struct{} // closed when the sender of this generation has stopped
	permanent bool          // no replacement could be started
}

// inputs are a call's encoded inputs, in one buffer: input i is
// buf[off[i]:off[i+1]].
type inputs struct {
	buf []byte
	off []uint32
}

func (in *inputs) len() int          { return len(in.off) - 1 }
func (in *inputs) item(i int) []byte { return in.buf[in.off[i]:in.off[i+1]] }

// request is a chunk of a call's inputs: lo to hi-1.
type request struct {
	call   *call
	in     *inputs
	lo, hi int
	deaths int // workers that died running it
}

// attempt is one dispatch of a request to one worker.
type attempt struct {
	id   uint64
	req  *request
	slot *slot
	buf  []byte // the result, as its fragments arrive
}

// NewPool starts a pool of opt.Workers worker processes and returns when
// they are all running. ctx bounds the start only; stop the pool with Close
// and Wait, or Terminate. The program must call Main first, as for Start.
func NewPool(ctx context.Context, opt PoolOptions) (*Pool, error) {
	if opt.Workers <= 0 {
		opt.Workers = runtime.NumCPU()
	}
	if opt.RingBytes <= 0 {
		opt.RingBytes = 256 << 10
	}
	if opt.ResultSlots <= 0 {
		opt.ResultSlots = 256
	}
	if opt.ResultSlotSize <= 0 {
		opt.ResultSlotSize = 4 << 10
	}
	if opt.ResultSlotSize <= fragHeader {
		return nil, fmt.Errorf("spawn: pool result slots of %d bytes cannot hold a %d-byte fragment header", opt.ResultSlotSize, fragHeader)
	}
	retries := opt.Retries
	switch {
	case retries == 0:
		retries = 2
	case retries < 0:
		retries = 0
	}
	ringCap := uint64(1) << bitsLen(uint64(opt.RingBytes)-1)
	// The result queue: NewQueue rounds the slot count up to a power of
	// two, and a slot's stride is at most ceil64(64 + slot size) (the
	// message starts after a 24-byte slot header, or at byte 64 in slots
	// of ring.AlignFrom bytes or more).
	resultSlots := uint64(1) << bitsLen(uint64(opt.ResultSlots)-1)
	stride := (64 + uint64(opt.ResultSlotSize) + 63) &^ 63
	size := int64(opt.Workers)*int64(ringCap+512+statusStride) + int64(resultSlots+1)*int64(stride) + 1<<20
	seg, err := shm.CreateAnon(size)
	if err != nil {
		return nil, fmt.Errorf("spawn: pool: %w", err)
	}
	p := &Pool{
		opt:       opt,
		retries:   retries,
		seg:       seg,
		attempts:  map[uint64]*attempt{},
		collected: make(chan struct{}),
		done:      make(chan struct{}),
	}
	fail := func(err error) (*Pool, error) {
		p.Terminate()
		return nil, fmt.Errorf("spawn: pool: %w", err)
	}
	p.ctx, p.kill = context.WithCancel(context.Background())
	if p.results, err = ring.NewQueue(seg, objResults, ring.QueueOptions{Slots: opt.ResultSlots, SlotSize: opt.ResultSlotSize}); err != nil {
		return fail(err)
	}
	if p.status, err = shm.NewBytes(seg, objStatus, opt.Workers*statusStride); err != nil {
		return fail(err)
	}
	for i := 0; i < opt.Workers; i++ {
		r, err := ring.NewSPSC(seg, requestRing(i), opt.RingBytes)
		if err != nil {
			return fail(err)
		}
		p.slots = append(p.slots, &slot{i: i, ring: r,
			running:  layout.U64(p.status, i*statusStride),
			finished: layout.U64(p.status, i*statusStride+8)})
	}
	p.collecting = true
	go p.collect()
	// Start the workers together: each start re-executes the program.
	errs := make(chan error, opt.Workers)
	for _, s := range p.slots {
		go func() { errs <- p.startWorker(ctx, s) }()
	}
	for range p.slots {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	if err != nil {
		return fail(err)
	}
	return p, nil
}

func bitsLen(x uint64) int {
	n := 0
	for ; x != 0; x >>= 1 {
		n++
	}
	return n
}

// startWorker starts a worker in s (a new one, or a replacement once the
// previous one has exited and its sender stopped).
func (p *Pool) startWorker(ctx context.Context, s *slot) error {
	proc, err := poolWorker.Start(ctx, Options{
		Segments:     append([]*shm.Segment{p.seg}, p.opt.Segments...),
		Args:         []string{strconv.Itoa(s.i), strconv.Itoa(p.opt.MaxTasksPerWorker)},
		Env:          p.opt.Env,
		Stdout:       p.opt.Stdout,
		Stderr:       p.opt.Stderr,
		OutputPrefix: p.opt.OutputPrefix,
		RawOutput:    p.opt.RawOutput,
		Logger:       p.opt.Logger,
	})
	if err != nil {
		return err
	}
	// Terminate must reach this worker too.
	go func() {
		select {
		case <-p.ctx.Done():
			proc.Kill()
		case <-proc.Done():
		}
	}()
	p.mu.Lock()
	s.proc = proc
	s.inflight = map[uint64]*attempt{}
	s.sendq = make(chan *attempt, depth)
	s.queued = 0
	s.sent = make(chan struct{})
	var sctx context.Context
	sctx, s.stopSend = context.WithCancel(p.ctx)
	p.stats.Started++
	p.live.Add(1)
	go p.sender(sctx, s, s.sendq, s.sent)
	go p.monitor(s, proc)
	p.dispatchLocked()
	p.mu.Unlock()
	return nil
}

// Pids returns the process ids of the running workers.
func (p *Pool) Pids() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pids []int
	for _, s := range p.slots {
		if s.proc != nil {
			pids = append(pids, s.proc.Pid())
		}
	}
	return pids
}

// Stats returns counts of what happened to the pool's workers.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// ---- dispatch ----

// dispatchLocked gives pending requests to the workers holding the fewest.
func (p *Pool) dispatchLocked() {
	for len(p.pending) > 0 {
		var best *slot
		for _, s := range p.slots {
			if s.proc != nil && len(s.inflight) < depth && (best == nil || len(s.inflight) < len(best.inflight)) {
				best = s
			}
		}
		if best == nil {
			return
		}
		req := p.pending[0]
		p.pending = p.pending[1:]
		p.nextID++
		a := &attempt{id: p.nextID, req: req, slot: best}
		p.attempts[a.id] = a
		best.inflight[a.id] = a
		if best.queued == 0 && p.trySend(best, a) {
			continue // written at once: no hand-off to the sender goroutine
		}
		best.queued++
		best.sendq <- a // never blocks: at most depth attempts are in flight
	}
}

// trySend writes a one-fragment request into the worker's ring if it fits
// now. The sender has nothing queued, so fragments cannot interleave.
func (p *Pool) trySend(s *slot, a *attempt) bool {
	s.frag = putFragment(s.frag[:0], a.id, uint32(s.i), true, nil)
	s.frag = appendRequest(s.frag, a.req.call.task, a.req.in, a.req.lo, a.req.hi)
	if len(s.frag) > s.ring.MaxMessage() {
		return false
	}
	ok, err := s.ring.TrySend(s.frag)
	return ok && err == nil
}

// sender writes the requests given to one worker into its ring.
func (p *Pool) sender(ctx context.Context, s *slot, q <-chan *attempt, done chan<- struct{}) {
	defer close(done)
	var body, frag []byte
	room := s.ring.MaxMessage() - fragHeader
	for a := range q {
		body = appendRequest(body[:0], a.req.call.task, a.req.in, a.req.lo, a.req.hi)
		for rest := body; ; {
			n := min(len(rest), room)
			frag = putFragment(frag[:0], a.id, uint32(s.i), n == len(rest), rest[:n])
			if s.ring.Send(ctx, frag) != nil {
				// The worker died, or the pool is stopping: the monitor
				// takes care of what it held.
				for range q {
				}
				return
			}
			if rest = rest[n:]; len(rest) == 0 {
				break
			}
		}
		p.mu.Lock()
		s.queued--
		p.mu.Unlock()
	}
}

// collect receives results until the pool stops.
func (p *Pool) collect() {
	defer close(p.collected)
	var msg []byte
	for {
		var err error
		msg, err = p.results.Recv(p.ctx, msg)
		if err != nil {
			return // closed at shutdown, or Terminate
		}
		f, err := parseFragment(msg)
		if err != nil {
			continue // not a message of this pool
		}
		p.mu.Lock()
		a := p.attempts[f.id]
		if a == nil {
			// A fragment of an attempt already given up: its worker died
			// after sending it.
			p.mu.Unlock()
			continue
		}
		a.buf = append(a.buf, f.piece...)
		if f.last {
			delete(p.attempts, a.id)
			delete(a.slot.inflight, a.id)
			res, err := parseResult(a.buf, a.req.hi-a.req.lo)
			if err != nil {
				p.failLocked(a.req, fmt.Errorf("malformed result: %w", err))
			} else {
				for i, r := range res {
					p.deliverLocked(a.req.call, a.req.lo+i, r.status, r.data, nil)
				}
			}
			p.dispatchLocked()
		}
		p.mu.Unlock()
		if f.last {
			// Delivering readied the goroutines waiting for these results,
			// on this goroutine's processor, and the next Recv may spin
			// there for tens of µs before it sleeps: let them run first
			// (Submit's round trip: 50 µs without this, 1.3 µs with it).
			runtime.Gosched()
		}
	}
}

// monitor waits for a worker to exit and deals with what it held.
func (p *Pool) monitor(s *slot, proc *Process) {
	exitErr := proc.Wait()
	p.mu.Lock()
	s.proc = nil
	close(s.sendq)
	s.stopSend() // a sender blocked on the dead worker's full ring gives up
	running := atomic.SwapUint64(s.running, 0)
	finished := atomic.LoadUint64(s.finished)
	if exitErr != nil {
		p.stats.Deaths++
	}
	// Requeue what it held, in the order it was given, ahead of the rest.
	ids := make([]uint64, 0, len(s.inflight))
	for id := range s.inflight {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var again []*request
	for _, id := range ids {
		a := s.inflight[id]
		if id <= finished {
			// Its result was sent whole before the worker exited: the
			// collector will find it in the queue.
			continue
		}
		delete(p.attempts, id)
		req := a.req
		if req.call.finished {
			continue
		}
		if id != running || exitErr == nil {
			again = append(again, req) // not started, or the worker exited normally
			continue
		}
		req.deaths++
		if req.deaths > p.retries {
			p.failLocked(req, &WorkerDiedError{Pid: proc.Pid(), Attempts: req.deaths, Exit: exitErr})
			continue
		}
		p.stats.Retries += req.hi - req.lo
		// Split a chunk, so that the input that kills workers fails alone.
		for i := req.lo; i < req.hi; i++ {
			again = append(again, &request{call: req.call, in: req.in, lo: i, hi: i + 1, deaths: req.deaths})
		}
	}
	s.inflight = nil
	p.pending = append(again, p.pending...)
	replace := !p.stopped
	p.mu.Unlock()

	<-s.sent // no old sender writes into the ring any more
	if replace {
		p.replace(s)
	}
	p.mu.Lock()
	p.dispatchLocked()
	p.mu.Unlock()
	p.live.Done()
	p.maybeShutdown()
}

// replace starts a worker in s after its previous one exited, trying a few
// times; a slot that cannot be refilled stays empty.
func (p *Pool) replace(s *slot) {
	var err error
	for try := 0; try < 3; try++ {
		p.mu.Lock()
		stopped := p.stopped
		p.mu.Unlock()
		if stopped {
			return // the pool closed meanwhile: no worker is wanted
		}
		if err = s.ring.Reset(); err == nil {
			if err = p.startWorker(p.ctx, s); err == nil {
				p.mu.Lock()
				p.stats.Replaced++
				p.mu.Unlock()
				return
			}
		}
		if p.ctx.Err() != nil {
			return
		}
	}
	p.mu.Lock()
	s.permanent = true
	noneLeft := true
	for _, o := range p.slots {
		if o.proc != nil || !o.permanent {
			noneLeft = false
		}
	}
	if noneLeft {
		// Nothing can run the pending work: fail it.
		for _, req := range p.pending {
			p.failLocked(req, fmt.Errorf("spawn: no pool worker could be started: %w", err))
		}
		p.pending = nil
	}
	p.mu.Unlock()
}

// ---- calls ----

// call is one Map, MapUnordered or Submit.
type call struct {
	task      string
	remaining int
	done      chan struct{}
	finished  bool
	// deliver receives each input's outcome, under the pool's lock; data
	// is only valid during the call. Index -1 ends the whole call with err
	// (ErrTerminated).
	deliver func(c *call, index int, data []byte, err error)
}

// submit queues a call's inputs, cut into chunks.
func (p *Pool) submit(task string, in *inputs, chunk int, deliver func(*call, int, []byte, error)) (*call, error) {
	n := in.len()
	c := &call{task: task, remaining: n, done: make(chan struct{}), deliver: deliver}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return nil, ErrPoolClosed
	}
	if n == 0 {
		close(c.done)
		c.finished = true
		return c, nil
	}
	if chunk <= 0 {
		chunk = p.opt.ChunkSize
	}
	if chunk <= 0 {
		chunk = p.autoChunk(in)
	}
	p.calls++
	for i := 0; i < n; i += chunk {
		p.pending = append(p.pending, &request{call: c, in: in, lo: i, hi: min(i+chunk, n)})
	}
	p.dispatchLocked()
	return c, nil
}

// autoChunk picks a chunk size like Python's: about four chunks per worker,
// and at most 64 KiB of input per chunk.
func (p *Pool) autoChunk(in *inputs) int {
	workers := len(p.slots)
	n := in.len()
	chunk := (n + 4*workers - 1) / (4 * workers)
	if avg := (len(in.buf) + 4*n) / n; avg > 0 {
		chunk = min(chunk, max(1, (64<<10)/avg))
	}
	return max(1, min(chunk, 4096))
}

// deliverLocked hands one outcome to its call.
func (p *Pool) deliverLocked(c *call, index int, status byte, data []byte, err error) {
	if c.finished {
		return
	}
	switch {
	case err != nil:
	case status == statusOK:
	default:
		err = &TaskError{Task: c.task, Index: index, Message: string(data), Panic: status == statusPanic}
	}
	c.deliver(c, index, data, err)
	c.remaining--
	if c.remaining == 0 {
		p.endLocked(c)
	}
}

// failLocked ends every input of req with err.
func (p *Pool) failLocked(req *request, err error) {
	for i := req.lo; i < req.hi; i++ {
		var te *TaskError
		e := err
		if !errors.As(err, &te) && !errors.Is(err, ErrTerminated) {
			e = &TaskError{Task: req.call.task, Index: i, Message: err.Error(), Err: err}
		}
		p.deliverLocked(req.call, i, 0, nil, e)
	}
}

// endLocked finishes a call: no more of its results are wanted, and its
// inputs not yet dispatched are dropped.
func (p *Pool) endLocked(c *call) {
	if c.finished {
		return
	}
	c.finished = true
	close(c.done)
	p.pending = slices.DeleteFunc(p.pending, func(r *request) bool { return r.call == c })
	p.calls--
	if p.closing && p.calls == 0 {
		go p.stop()
	}
}

// cancel ends a call from outside (its context ended, or its iterator was
// abandoned).
func (p *Pool) cancel(c *call) {
	p.mu.Lock()
	p.endLocked(c)
	p.mu.Unlock()
}

// ---- shutdown ----

// Close stops the pool from taking new calls; calls already made run to
// the end, then the workers exit. It does not wait: Wait does.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closing {
		p.closing = true
		if p.calls == 0 {
			go p.stop()
		}
	}
	return nil
}

// stop closes the request rings, so that workers finish and exit.
func (p *Pool) stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	// The rings are closed under the lock: a worker's monitor that sees
	// stopped (and so may start the shutdown, after which Wait unmaps the
	// segment) must also see every ring closed, never a Close in progress.
	for _, s := range p.slots {
		s.ring.Close()
	}
	p.mu.Unlock()
	p.maybeShutdown()
}

// maybeShutdown starts the shutdown once the request rings are closed and
// no worker runs.
func (p *Pool) maybeShutdown() {
	p.mu.Lock()
	ready := p.stopped
	for _, s := range p.slots {
		if s.proc != nil {
			ready = false
		}
	}
	p.mu.Unlock()
	if ready {
		p.startShutdown()
	}
}

func (p *Pool) startShutdown() {
	p.shutdownOnce.Do(func() { go p.shutdown() })
}

// shutdown runs once, after the pool stopped: when it closes done, no
// goroutine of the pool touches the segment any more, and Wait may unmap it.
func (p *Pool) shutdown() {
	p.live.Wait() // every worker has exited and its monitor finished
	if p.collecting {
		p.results.Close()
		<-p.collected
	}
	p.kill()
	close(p.done)
}

// Wait blocks until every worker has exited, after Close (once the calls
// made before it have finished) or Terminate, and releases the pool's
// shared memory.
func (p *Pool) Wait() error {
	<-p.done
	p.seg.Close()
	return nil
}

// Terminate stops the pool now: it kills every worker with SIGKILL, ends
// every unfinished call with ErrTerminated, and returns once the workers
// have exited (within milliseconds).
func (p *Pool) Terminate() error {
	p.mu.Lock()
	p.closing = true
	p.stopped = true
	var calls []*call
	for _, r := range p.pending {
		calls = append(calls, r.call)
	}
	for _, a := range p.attempts {
		calls = append(calls, a.req.call)
	}
	p.pending = nil
	for _, c := range calls {
		if !c.finished {
			c.deliver(c, -1, nil, ErrTerminated)
			p.endLocked(c)
		}
	}
	p.mu.Unlock()
	p.kill()
	p.startShutdown()
	<-p.done
	return nil
}

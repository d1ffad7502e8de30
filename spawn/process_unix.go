//go:build unix

package spawn

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shmkit/shmkit/internal/registry"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

// The log ring's segment and ring sizes: enough for a burst of a few
// thousand ordinary records.
const (
	logSegSize  = 1 << 20
	logRingSize = 512 << 10
)

// Process is a child process started by Start. Its methods are safe for
// concurrent use.
type Process struct {
	name    string
	cmd     *exec.Cmd
	control *os.File // held open for the child's life: see watchParent

	outputs []*os.File      // the read ends of forwarded stdout and stderr
	outDone []chan struct{} // closed when a forwarder has finished
	logRing *ring.SPSC      // the log ring, when the parent set a Logger
	logSeg  *shm.Segment
	logDone chan struct{}

	ready  chan struct{} // closed when the child reports msgReady
	done   chan struct{} // closed when the child has exited and been reaped
	mu     sync.Mutex
	text   string // the child's error text, once done
	err    error  // Wait's result, once done
	isDone bool
}

// Start runs f in a new child process: the running binary, executed again,
// whose Main finds f by name. Start returns once the child has mapped
// opt.Segments and is about to call f, so a child that cannot start is an
// error here. Cancelling ctx kills the child (also after Start returns).
//
// Errors: ErrNoMain if this program never called Main; ErrStart wrapping the
// child's own report if it exited before running f (for example, f is not
// registered in the child); ctx.Err() if ctx ended first (the child is then
// killed and reaped).
func (f *Func) Start(ctx context.Context, opt Options) (*Process, error) {
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("spawn: %w on %s", errors.ErrUnsupported, runtime.GOOS)
	}
	if !mainCalled.Load() {
		return nil, ErrNoMain
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("spawn: %w", err)
	}
	controlR, controlW, err := os.Pipe()
	if err != nil {
		statusR.Close()
		statusW.Close()
		return nil, fmt.Errorf("spawn: %w", err)
	}
	segments := opt.Segments
	var logSeg *shm.Segment
	var logRing *ring.SPSC
	var logLevel slog.Level
	if opt.Logger != nil {
		// A small anonymous segment of its own carries the log ring; it
		// travels after the function's segments.
		if logSeg, err = shm.CreateAnon(logSegSize); err != nil {
			return nil, fmt.Errorf("spawn: log ring: %w", err)
		}
		if logRing, err = ring.NewSPSC(logSeg, "log", logRingSize); err != nil {
			logSeg.Close()
			return nil, fmt.Errorf("spawn: log ring: %w", err)
		}
		logLevel = lowestLevel(opt.Logger.Handler())
		segments = append(append([]*shm.Segment(nil), segments...), logSeg)
	}
	names := make([]string, len(segments))
	files := []*os.File{statusW, controlR}
	for i, s := range segments {
		names[i] = s.Name()
		files = append(files, s.File())
	}
	files = append(files, opt.Files...)
	segsJSON, _ := json.Marshal(names)

	env := make([]string, 0, len(os.Environ())+len(opt.Env)+4)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SHMKIT_SPAWN_") {
			env = append(env, kv)
		}
	}
	env = append(env, opt.Env...)
	env = append(env, envFunc+"="+f.name, envSegs+"="+string(segsJSON), envFiles+"="+strconv.Itoa(len(opt.Files)))
	if opt.Outlive {
		env = append(env, envOutlive+"=1")
	}
	if logRing != nil {
		env = append(env, envLog+"="+strconv.Itoa(int(logLevel)))
	}
	stdout, stderr := opt.Stdout, opt.Stderr
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	cmd := &exec.Cmd{
		// /proc/self/exe, resolved in the forked child, is this binary even
		// if its file was deleted or replaced since it started.
		Path:       "/proc/self/exe",
		Args:       append([]string{os.Args[0]}, opt.Args...),
		Env:        env,
		Stdout:     stdout,
		Stderr:     stderr,
		ExtraFiles: files,
	}
	// Forwarded output: the child writes to pipes whose lines the parent
	// copies, prefixed.
	var outR, outW []*os.File
	if !opt.RawOutput {
		for range 2 {
			r, w, err := os.Pipe()
			if err != nil {
				for _, f := range append(outR, outW...) {
					f.Close()
				}
				return nil, fmt.Errorf("spawn: %w", err)
			}
			outR, outW = append(outR, r), append(outW, w)
		}
		cmd.Stdout, cmd.Stderr = outW[0], outW[1]
	}
	err = cmd.Start()
	statusW.Close()
	controlR.Close()
	for _, w := range outW {
		w.Close()
	}
	if err != nil {
		statusR.Close()
		controlW.Close()
		for _, r := range outR {
			r.Close()
		}
		if logSeg != nil {
			logSeg.Close()
		}
		return nil, fmt.Errorf("spawn: start %s: %w", f.name, err)
	}
	registry.MarkStarted(f.name)
	p := &Process{
		name:    f.name,
		cmd:     cmd,
		control: controlW,
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
		outputs: outR,
		logRing: logRing,
		logSeg:  logSeg,
	}
	if len(outR) > 0 {
		prefix := expandPrefix(opt.OutputPrefix, f.name, cmd.Process.Pid)
		for i, w := range []io.Writer{stdout, stderr} {
			done := make(chan struct{})
			p.outDone = append(p.outDone, done)
			go forward(outR[i], w, prefix, done)
		}
	}
	if logRing != nil {
		p.logDone = make(chan struct{})
		go pumpLogs(logRing, opt.Logger.Handler(), f.name, cmd.Process.Pid, p.logDone)
	}
	statusDone := make(chan string, 1)
	go p.readStatus(statusR, statusDone)
	go p.reap(statusR, statusDone)

	timeout := opt.StartTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.ready:
	case <-p.done:
		// Exited before reaching f: its report says why.
		err := p.Wait()
		var ee *ExitError
		if errors.As(err, &ee) && ee.Message != "" {
			return nil, fmt.Errorf("%w %q: %s", ErrStart, f.name, ee.Message)
		}
		return nil, fmt.Errorf("%w %q: %w", ErrStart, f.name, err)
	case <-ctx.Done():
		p.Kill()
		<-p.done
		return nil, ctx.Err()
	case <-timer.C:
		p.Kill()
		<-p.done
		return nil, fmt.Errorf("%w %q: no report within %v: does the program call spawn.Main() first in main() on every path?", ErrStart, f.name, timeout)
	}
	if ctx.Done() != nil {
		go func() {
			select {
			case <-ctx.Done():
				p.Kill()
			case <-p.done:
			}
		}()
	}
	return p, nil
}

// readStatus reads the child's reports: msgReady, then msgError and its text.
func (p *Process) readStatus(r *os.File, out chan<- string) {
	br := bufio.NewReader(r)
	var text strings.Builder
	readyClosed := false
	for {
		b, err := br.ReadByte()
		if err != nil {
			break
		}
		switch b {
		case msgReady:
			if !readyClosed {
				close(p.ready)
				readyClosed = true
			}
		case msgError:
			io.Copy(&text, io.LimitReader(br, maxErrorText+16))
		}
	}
	out <- text.String()
}

// reap waits for the child to exit, collects its report and records the
// outcome.
func (p *Process) reap(statusR *os.File, statusDone <-chan string) {
	werr := p.cmd.Wait()
	// The child's end of the status pipe closed when it exited, unless a
	// descendant still holds it: do not wait long for that.
	statusR.SetReadDeadline(time.Now().Add(time.Second))
	text := <-statusDone
	statusR.Close()
	p.control.Close()
	for i, r := range p.outputs {
		drain(r, p.outDone[i])
	}
	if p.logRing != nil {
		// Every record the child sent is in the ring: deliver them, then
		// free the ring.
		p.logRing.Close()
		<-p.logDone
		p.logSeg.Close()
	}

	var err error
	if werr != nil {
		ee := &ExitError{Name: p.name, Pid: p.cmd.Process.Pid, Code: -1, Message: strings.TrimSpace(text)}
		var xe *exec.ExitError
		if errors.As(werr, &xe) {
			ws := xe.Sys().(syscall.WaitStatus)
			if ws.Signaled() {
				ee.Signal = ws.Signal()
			} else {
				ee.Code = ws.ExitStatus()
			}
			err = ee
		} else {
			// An I/O error copying output; the process itself exited 0.
			err = fmt.Errorf("spawn: %s (pid %d): %w", p.name, p.cmd.Process.Pid, werr)
		}
	}
	p.mu.Lock()
	p.text, p.err, p.isDone = text, err, true
	p.mu.Unlock()
	close(p.done)
}

// Pid returns the child's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Name returns the name of the registered function the child runs.
func (p *Process) Name() string { return p.name }

// Wait blocks until the child has exited and returns nil if it exited with
// status 0, or an *ExitError with its exit code or the signal that killed it
// and the error or panic text it reported. Wait may be called any number of
// times, from any goroutine.
func (p *Process) Wait() error {
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Done returns a channel closed when the child has exited, to wait on many
// processes in one select.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitCode returns the child's exit status, or -1 while it runs or if a
// signal killed it.
func (p *Process) ExitCode() int {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// Signal sends sig to the child. It returns os.ErrProcessDone if the child
// has already exited; the signal can never reach another process that reused
// the pid.
func (p *Process) Signal(sig os.Signal) error {
	return p.cmd.Process.Signal(sig)
}

// Terminate sends SIGTERM to the child, asking it to stop.
func (p *Process) Terminate() error { return p.Signal(syscall.SIGTERM) }

// Kill sends SIGKILL to the child, which stops it at once.
func (p *Process) Kill() error { return p.Signal(syscall.SIGKILL) }

// WaitAny waits until one of procs has exited and returns it: Python's
// multiprocessing.connection.wait on process sentinels. It returns ctx.Err()
// if ctx ends first, and nil, nil for no processes.
func WaitAny(ctx context.Context, procs ...*Process) (*Process, error) {
	if len(procs) == 0 {
		return nil, nil
	}
	cases := make([]reflect.SelectCase, len(procs)+1)
	for i, p := range procs {
		cases[i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(p.Done())}
	}
	cases[len(procs)] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())}
	i, _, _ := reflect.Select(cases)
	if i == len(procs) {
		return nil, ctx.Err()
	}
	return procs[i], nil
}

// ExitError reports a child that exited with a non-zero status or was killed
// by a signal.
type ExitError struct {
	Name    string         // registered function the child ran
	Pid     int            // child's process id
	Code    int            // exit status; -1 when a signal killed the child
	Signal  syscall.Signal // the signal that killed the child, or 0
	Message string         // the child's error or panic text, if it reported one
}

func (e *ExitError) Error() string {
	var s string
	if e.Signal != 0 {
		s = fmt.Sprintf("spawn: child %s (pid %d) killed by signal %v", e.Name, e.Pid, e.Signal)
	} else {
		s = fmt.Sprintf("spawn: child %s (pid %d) exited with status %d", e.Name, e.Pid, e.Code)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

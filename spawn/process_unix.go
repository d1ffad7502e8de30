//go:build unix

package spawn

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shmkit/shmkit/internal/registry"
	"github.com/shmkit/shmkit/shm"
)

// Options configures a child process. The zero value starts a child with no
// segments and no arguments, the parent's environment and standard output
// and error, that dies with its parent.
type Options struct {
	// Segments are mapped in the child before its function runs, and
	// returned by Child.Segments in this order. They travel as inherited
	// file descriptors; anonymous segments can be shared no other way.
	Segments []*shm.Segment

	// Files are open files (pipes, sockets, ...) the child inherits; they
	// are returned by Child.Files in this order. The parent keeps its own
	// copies open: close them when the child has them.
	Files []*os.File

	// Args are returned by Child.Args. They also appear in the child's
	// command line (ps shows them).
	Args []string

	// Env holds "KEY=value" entries added to the parent's environment.
	Env []string

	// Stdout and Stderr receive the child's standard output and error.
	// nil means the parent's os.Stdout and os.Stderr.
	Stdout, Stderr io.Writer

	// Outlive keeps the child running when the parent process dies; the
	// child's context is then cancelled instead. When false (the default)
	// the child kills itself with SIGKILL as soon as the parent dies,
	// however the parent dies.
	Outlive bool

	// StartTimeout bounds how long Start waits for the child to report that
	// its function is starting. Zero means 30 seconds.
	StartTimeout time.Duration
}

// Process is a child process started by Start. Its methods are safe for
// concurrent use.
type Process struct {
	name    string
	cmd     *exec.Cmd
	control *os.File // held open for the child's life: see watchParent

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
	names := make([]string, len(opt.Segments))
	files := []*os.File{statusW, controlR}
	for i, s := range opt.Segments {
		names[i] = s.Name()
		files = append(files, s.File())
	}
	files = append(files, opt.Files...)
	segsJSON, _ := json.Marshal(names)

	env := make([]string, 0, len(os.Environ())+len(opt.Env)+3)
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
	cmd := &exec.Cmd{
		// /proc/self/exe, resolved in the forked child, is this binary even
		// if its file was deleted or replaced since it started.
		Path:       "/proc/self/exe",
		Args:       append([]string{os.Args[0]}, opt.Args...),
		Env:        env,
		Stdout:     opt.Stdout,
		Stderr:     opt.Stderr,
		ExtraFiles: files,
	}
	if cmd.Stdout == nil {
		cmd.Stdout = os.Stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	err = cmd.Start()
	statusW.Close()
	controlR.Close()
	if err != nil {
		statusR.Close()
		controlW.Close()
		return nil, fmt.Errorf("spawn: start %s: %w", f.name, err)
	}
	registry.MarkStarted(f.name)
	p := &Process{
		name:    f.name,
		cmd:     cmd,
		control: controlW,
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
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

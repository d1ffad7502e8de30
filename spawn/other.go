//go:build !unix

package spawn

import (
	"context"
	"errors"
	"os"
)

// Process is a child process; not supported on this system.
type Process struct{}

// ExitError reports a child that failed; see the Linux documentation.
type ExitError struct {
	Name    string
	Pid     int
	Code    int
	Signal  os.Signal
	Message string
}

func (e *ExitError) Error() string { return "spawn: child " + e.Name + " failed" }

func childSpec() (spec, bool) { return spec{}, false }

type spec struct{}

func runChild(spec) {}

// Start is not supported on this system.
func (f *Func) Start(ctx context.Context, opt Options) (*Process, error) {
	return nil, errors.ErrUnsupported
}

func (p *Process) Pid() int                   { return 0 }
func (p *Process) Name() string               { return "" }
func (p *Process) Wait() error                { return errors.ErrUnsupported }
func (p *Process) Done() <-chan struct{}      { return nil }
func (p *Process) ExitCode() int              { return -1 }
func (p *Process) Signal(sig os.Signal) error { return errors.ErrUnsupported }
func (p *Process) Terminate() error           { return errors.ErrUnsupported }
func (p *Process) Kill() error                { return errors.ErrUnsupported }

package spawn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/registry"
	"github.com/shmkit/shmkit/shm"
)

// A Func is a function registered to run in child processes.
type Func struct {
	name string
	fn   func(ctx context.Context, c *Child) error
}

// Name returns the name the function was registered under.
func (f *Func) Name() string { return f.name }

var funcs = map[string]*Func{}

// Register registers fn under name so that Start can run it in a child
// process, and returns a handle to start it with. Call it at package level
// (a package variable) or in init, so that it runs identically in the parent
// and in every child: the child is the same binary started afresh, and it
// finds fn by name. Register panics if name is empty or already registered.
func Register(name string, fn func(ctx context.Context, c *Child) error) *Func {
	return register(name, fn, true)
}

// register is Register; tracked registrations are listed for the test
// harness's check of functions no test starts (this package's own are not).
func register(name string, fn func(ctx context.Context, c *Child) error, tracked bool) *Func {
	if name == "" {
		panic("spawn: Register with an empty name")
	}
	if fn == nil {
		panic("spawn: Register " + name + " with a nil function")
	}
	if _, ok := funcs[name]; ok {
		panic("spawn: function " + name + " registered twice")
	}
	if tracked && !registry.Add(name) {
		panic("spawn: function " + name + " registered twice")
	}
	f := &Func{name: name, fn: fn}
	funcs[name] = f
	return f
}

// mainCalled records that Main ran in this process, which a child started
// from this binary will therefore do too.
var mainCalled atomic.Bool

// Main must be the first call in main() and in TestMain. In a process that
// spawn started, it runs the registered function and exits the process with
// its outcome; in any other process it returns at once.
func Main() {
	mainCalled.Store(true)
	if spec, ok := childSpec(); ok {
		runChild(spec) // does not return
	}
}

// Child is what a function running in a child process gets from its parent.
type Child struct {
	name   string
	segs   []*shm.Segment
	files  []*os.File
	args   []string
	logger *slog.Logger
}

// Name returns the name of the registered function the child runs.
func (c *Child) Name() string { return c.name }

// Segments returns the segments the parent passed in Options.Segments,
// mapped, in the same order.
func (c *Child) Segments() []*shm.Segment { return c.segs }

// Files returns the files the parent passed in Options.Files, in order.
func (c *Child) Files() []*os.File { return c.files }

// Args returns the arguments the parent passed in Options.Args.
func (c *Child) Args() []string { return c.args }

// ExitCode is an error that a child function returns to exit with a chosen
// status, like Python's sys.exit(n): the child exits with that code, and
// with no error message. ExitCode(0) is a successful exit.
type ExitCode int

func (e ExitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// Errors from Start.
var (
	// ErrNoMain reports that this program never called Main, so a child
	// started from it would run main() instead of the registered function.
	ErrNoMain = errors.New("spawn: Main was not called: call spawn.Main() first in main() and in TestMain")

	// ErrStart reports that a child did not reach its function: it exited
	// early, or did not report in time (its binary does not call Main on
	// every path).
	ErrStart = errors.New("spawn: child did not start its function")
)

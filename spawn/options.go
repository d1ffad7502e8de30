package spawn

import (
	"io"
	"log/slog"
	"os"
	"time"

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

	// OutputPrefix is written before every line the child prints, so that
	// the output of many children can be told apart; in it, %n stands for
	// the function's name, %p for the child's pid and %% for a percent
	// sign. The zero value means "[%n %p] ". Lines are forwarded whole:
	// lines of different children never interleave.
	OutputPrefix string

	// RawOutput passes the child's output through unchanged, byte for byte
	// as it writes it: the child writes straight to Stdout and Stderr when
	// they are files (the parent's own standard output and error, by
	// default), and nothing is prefixed.
	RawOutput bool

	// Logger, if set, receives the records the child logs through
	// Child.Logger (or Logger(ctx)): they travel over a ring in shared
	// memory, with their levels, attributes and groups, and arrive with
	// two more attributes, "child" (the function's name) and "pid". The
	// child drops records below the lowest level Logger's handler enables.
	// When nil, the child's logger writes text to its standard error.
	Logger *slog.Logger

	// Outlive keeps the child running when the parent process dies; the
	// child's context is then cancelled instead. When false (the default)
	// the child kills itself with SIGKILL as soon as the parent dies,
	// however the parent dies.
	Outlive bool

	// StartTimeout bounds how long Start waits for the child to report that
	// its function is starting. Zero means 30 seconds.
	StartTimeout time.Duration
}

//go:build unix

package spawn

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

// The parent-child protocol. The child is the parent's binary, re-executed,
// with these variables in its environment and these file descriptors:
const (
	envFunc    = "SHMKIT_SPAWN_FUNC"    // name of the registered function
	envSegs    = "SHMKIT_SPAWN_SEGS"    // JSON array of the segments' names
	envOutlive = "SHMKIT_SPAWN_OUTLIVE" // "1" when Options.Outlive
	envFiles   = "SHMKIT_SPAWN_FILES"   // number of Options.Files, after the segments
	envLog     = "SHMKIT_SPAWN_LOG"     // lowest level to ship; the last segment holds the log ring

	fdStatus  = 3 // child → parent: msgReady, then msgError and its text
	fdControl = 4 // parent → child: never written; EOF means the parent died
	fdSegs    = 5 // first segment; the others, then Options.Files, follow

	msgReady = 'R' // the function is about to run
	msgError = 'E' // the rest of the stream is the child's error text

	maxErrorText = 16 << 10 // longer error texts are cut
)

// Exit codes of a child whose function failed.
const (
	exitError = 1 // the function returned an error
	exitPanic = 2 // the function panicked, or spawn could not run it
)

type spec struct {
	fn      string
	segs    []string
	files   int
	outlive bool
	log     string // lowest level to ship, or "" when not shipping
}

func childSpec() (spec, bool) {
	fn, ok := os.LookupEnv(envFunc)
	if !ok {
		return spec{}, false
	}
	s := spec{fn: fn, outlive: os.Getenv(envOutlive) == "1"}
	_ = json.Unmarshal([]byte(os.Getenv(envSegs)), &s.segs) // checked below: fds must exist
	s.files, _ = strconv.Atoi(os.Getenv(envFiles))
	s.log = os.Getenv(envLog)
	// Children of this child must not inherit the protocol.
	os.Unsetenv(envFunc)
	os.Unsetenv(envSegs)
	os.Unsetenv(envFiles)
	os.Unsetenv(envOutlive)
	os.Unsetenv(envLog)
	return s, true
}

// runChild runs the registered function in this (child) process and exits.
func runChild(s spec) {
	// The inherited descriptors lose close-on-exec in the fork; set it again
	// so that processes this child starts do not inherit them.
	for fd := fdStatus; fd < fdSegs+len(s.segs)+s.files; fd++ {
		syscall.CloseOnExec(fd)
	}
	status := os.NewFile(fdStatus, "spawn-status")
	control := os.NewFile(fdControl, "spawn-control")
	fail := func(code int, format string, args ...any) {
		writeError(status, fmt.Sprintf(format, args...))
		os.Exit(code)
	}
	if status == nil || control == nil {
		fail(exitPanic, "spawn: child %q is missing its protocol descriptors", s.fn)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go watchParent(control, s.outlive, cancel)

	f := funcs[s.fn]
	if f == nil {
		fail(exitPanic, "spawn: no function registered as %q in this binary", s.fn)
	}
	c := &Child{name: s.fn, args: os.Args[1:]}
	for i, name := range s.segs {
		seg, err := shm.FromFile(os.NewFile(uintptr(fdSegs+i), "segment"), name)
		if err != nil {
			fail(exitPanic, "spawn: child %q: segment %d: %v", s.fn, i, err)
		}
		c.segs = append(c.segs, seg)
	}
	for i := 0; i < s.files; i++ {
		c.files = append(c.files, os.NewFile(uintptr(fdSegs+len(s.segs)+i), fmt.Sprintf("file%d", i)))
	}
	c.logger = stderrLogger()
	if s.log != "" && len(c.segs) > 0 {
		// The log ring travels as the last segment, not the function's.
		logSeg := c.segs[len(c.segs)-1]
		c.segs = c.segs[:len(c.segs)-1]
		r, err := ring.OpenSPSC(logSeg, "log")
		if err != nil {
			fail(exitPanic, "spawn: child %q: log ring: %v", s.fn, err)
		}
		level, _ := strconv.Atoi(s.log)
		c.logger = slog.New(&shipHandler{out: &shipper{r: r}, level: slog.Level(level)})
	}
	ctx = context.WithValue(ctx, loggerKey{}, c.logger)
	if _, err := status.Write([]byte{msgReady}); err != nil {
		os.Exit(exitPanic) // the parent is gone
	}
	code, text := callFunc(ctx, f, c)
	if text != "" {
		writeError(status, text)
	}
	os.Exit(code)
}

// callFunc runs the function and turns its outcome into an exit code and text.
func callFunc(ctx context.Context, f *Func, c *Child) (code int, text string) {
	defer func() {
		if r := recover(); r != nil {
			code = exitPanic
			text = fmt.Sprintf("panic: %v\n\n%s", r, debug.Stack())
		}
	}()
	err := f.fn(ctx, c)
	if err == nil {
		return 0, ""
	}
	if ec, ok := err.(ExitCode); ok {
		return int(ec) & 0xff, ""
	}
	return exitError, err.Error()
}

func writeError(status *os.File, text string) {
	if len(text) > maxErrorText {
		text = text[:maxErrorText] + "…"
	}
	var b strings.Builder
	b.WriteByte(msgError)
	b.WriteString(text)
	status.Write([]byte(b.String()))
}

// watchParent waits for EOF on the control pipe, which the parent holds open
// and never writes: EOF means the parent process has died, whichever thread
// of it started this child (PR_SET_PDEATHSIG follows the thread, and Go
// retires threads: go.dev/issue/27505). A parent that died before this
// goroutine started is seen too, since EOF persists.
func watchParent(control *os.File, outlive bool, cancel context.CancelFunc) {
	var b [1]byte
	for {
		_, err := control.Read(b[:])
		if err != nil {
			break
		}
	}
	if outlive {
		cancel()
		return
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
}

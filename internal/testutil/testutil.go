//go:build linux

// Package testutil is the multi-process test harness: TestMain's body,
// segments and the child processes that share them, bounded waits, and
// sizes that shrink under -short; and, in fuzz.go, what the hostile fuzz
// targets share.
package testutil

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/registry"
	"github.com/shmkit/shmkit/spawn"
)

// Main is the whole of a test package's TestMain: it runs spawn.Main (so a
// spawned child runs its function and exits), then the tests, and on a full
// run (no -run, -skip or -bench filter) fails the suite if a registered child
// function was never started. Functions whose names start with "bench" are
// exempt: only benchmarks start them.
func Main(m *testing.M) {
	spawn.Main()
	if os.Getenv(ExitAtOnceEnv) == "1" {
		os.Exit(0)
	}
	if os.Getenv(registry.LogEnv) == "" {
		if f, err := os.CreateTemp("", "shmkit-started-"); err == nil {
			f.Close()
			os.Setenv(registry.LogEnv, f.Name())
		}
	}
	code := m.Run()
	if code == 0 && fullRun() {
		var unused []string
		for _, n := range registry.Unstarted() {
			if !strings.HasPrefix(strings.ToLower(n), "bench") {
				unused = append(unused, n)
			}
		}
		if len(unused) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: child functions registered but never started by a test: %s\n", strings.Join(unused, ", "))
			code = 1
		}
	}
	if path := os.Getenv(registry.LogEnv); path != "" {
		os.Remove(path)
	}
	os.Exit(code)
}

// ExitAtOnceEnv, set to "1", makes a test binary exit 0 right after
// spawn.Main: benchmarks use it to time a plain os/exec of the same binary.
const ExitAtOnceEnv = "SHMKIT_TEST_EXIT_AT_ONCE"

func fullRun() bool {
	for _, name := range []string{"test.run", "test.skip", "test.bench", "test.fuzz"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return false
		}
	}
	return true
}

// WaitFor polls cond until it holds or timeout passes, then fails the test
// saying what it waited for. It is for conditions no handshake can signal,
// such as another process having exited.
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	pause := 100 * time.Microsecond
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(pause)
		if pause < 10*time.Millisecond {
			pause *= 2
		}
	}
}

// MustPanic runs fn and fails the test unless fn panics with a value whose
// text (a string, or an error's message) contains want.
func MustPanic(tb testing.TB, want string, fn func()) {
	tb.Helper()
	msg, panicked := Catch(fn)
	if !panicked {
		tb.Fatalf("no panic, want one containing %q", want)
	}
	if !strings.Contains(msg, want) {
		tb.Fatalf("panic %q, want one containing %q", msg, want)
	}
}

// Size returns n, or n/div (at least 1) under -short.
func Size(n, div int) int {
	if testing.Short() {
		return max(n/div, 1)
	}
	return n
}

// Timeout is the bound for waits in tests: generous, since CI machines are
// small and shared, but finite, so a hang fails with a message.
const Timeout = 60 * time.Second

// Await polls cond until it holds, yielding the CPU between polls, for code
// running in a child process (which has no testing.TB). It returns an error
// saying what it waited for after Timeout.
func Await(what string, cond func() bool) error {
	deadline := time.Now().Add(Timeout)
	for i := 0; !cond(); i++ {
		if i%1024 == 0 && time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", Timeout, what)
		}
		runtime.Gosched()
	}
	return nil
}

// StartBarrier counts the calling process in at a start barrier, the
// shared word *arrived, and waits as Await does until procs processes
// have arrived: so that processes meant to contend really run at the same
// time.
func StartBarrier(arrived *uint32, procs int) error {
	atomic.AddUint32(arrived, 1)
	return Await("all processes to start", func() bool { return atomic.LoadUint32(arrived) >= uint32(procs) })
}

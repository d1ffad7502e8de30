//go:build linux

package spawn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/proc"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
)

func TestMain(m *testing.M) { testutil.Main(m) }

var (
	childOK    = spawn.Register("TestExitCodes.ok", func(ctx context.Context, c *spawn.Child) error { return nil })
	childError = spawn.Register("TestExitCodes.error", func(ctx context.Context, c *spawn.Child) error {
		return errors.New("the child's own error")
	})
	childExit7 = spawn.Register("TestExitCodes.exit7", func(ctx context.Context, c *spawn.Child) error {
		return spawn.ExitCode(7)
	})
	childPanic = spawn.Register("TestPanic", func(ctx context.Context, c *spawn.Child) error {
		panic("kaboom")
	})
)

func TestExitCodes(t *testing.T) {
	ctx := context.Background()
	p, err := childOK.Start(ctx, spawn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatalf("ok child: Wait = %v, want nil", err)
	}
	if got := p.ExitCode(); got != 0 {
		t.Errorf("ok child: ExitCode = %d, want 0", got)
	}

	for _, tc := range []struct {
		f       *spawn.Func
		code    int
		message string
	}{
		{childError, 1, "the child's own error"},
		{childExit7, 7, ""},
	} {
		p, err := tc.f.Start(ctx, spawn.Options{})
		if err != nil {
			t.Fatal(err)
		}
		err = p.Wait()
		var ee *spawn.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("%s: Wait = %v, want *ExitError", tc.f.Name(), err)
		}
		if ee.Code != tc.code || ee.Signal != 0 || ee.Message != tc.message || ee.Pid != p.Pid() || ee.Name != tc.f.Name() {
			t.Errorf("%s: ExitError = %+v, want code %d, no signal, message %q", tc.f.Name(), ee, tc.code, tc.message)
		}
		if got := p.ExitCode(); got != tc.code {
			t.Errorf("%s: ExitCode = %d, want %d", tc.f.Name(), got, tc.code)
		}
		// Wait again: same answer.
		if err2 := p.Wait(); err2 != err {
			t.Errorf("second Wait = %v, want %v", err2, err)
		}
	}
}

func TestPanic(t *testing.T) {
	p, err := childPanic.Start(context.Background(), spawn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ee *spawn.ExitError
	if err := p.Wait(); !errors.As(err, &ee) {
		t.Fatalf("Wait = %v, want *ExitError", err)
	}
	if ee.Code != 2 || !strings.HasPrefix(ee.Message, "panic: kaboom") || !strings.Contains(ee.Message, "spawn_test.go") {
		t.Errorf("ExitError = code %d, message %q; want code 2 and the panic with its stack", ee.Code, ee.Message)
	}
}

// childBlock reports its pid in its segment, then blocks until killed.
var childBlock = spawn.Register("TestSignals", func(ctx context.Context, c *spawn.Child) error {
	<-ctx.Done() // never, unless Outlive and the parent died
	return nil
})

func TestSignals(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(*spawn.Process) error
		sig  syscall.Signal
	}{
		{"kill", (*spawn.Process).Kill, syscall.SIGKILL},
		{"terminate", (*spawn.Process).Terminate, syscall.SIGTERM},
		{"signal", func(p *spawn.Process) error { return p.Signal(syscall.SIGINT) }, syscall.SIGINT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := childBlock.Start(context.Background(), spawn.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := p.ExitCode(); got != -1 {
				t.Errorf("ExitCode while running = %d, want -1", got)
			}
			if err := tc.stop(p); err != nil {
				t.Fatal(err)
			}
			var ee *spawn.ExitError
			if err := p.Wait(); !errors.As(err, &ee) || ee.Signal != tc.sig || ee.Code != -1 {
				t.Fatalf("Wait = %v, want killed by %v", err, tc.sig)
			}
			if got := p.ExitCode(); got != -1 {
				t.Errorf("ExitCode after a signal = %d, want -1", got)
			}
			if err := p.Kill(); !errors.Is(err, os.ErrProcessDone) {
				t.Errorf("Kill after exit = %v, want os.ErrProcessDone", err)
			}
		})
	}
}

func TestContextCancelKills(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p, err := childBlock.Start(ctx, spawn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-p.Done():
	case <-time.After(testutil.Timeout):
		t.Fatal("child still running after its context was cancelled")
	}
	var ee *spawn.ExitError
	if err := p.Wait(); !errors.As(err, &ee) || ee.Signal != syscall.SIGKILL {
		t.Fatalf("Wait = %v, want killed by SIGKILL", err)
	}

	// A context already cancelled starts nothing.
	if _, err := childBlock.Start(ctx, spawn.Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with a cancelled context = %v, want context.Canceled", err)
	}
}

// childArgs checks what it was given and answers through each segment.
var childArgs = spawn.Register("TestArgsEnvSegments", func(ctx context.Context, c *spawn.Child) error {
	if got := strings.Join(c.Args(), "|"); got != "one|two words|" {
		return fmt.Errorf("args %q", got)
	}
	if got := os.Getenv("SPAWN_TEST_VAR"); got != "forty-two" {
		return fmt.Errorf("env SPAWN_TEST_VAR=%q", got)
	}
	if got := os.Getenv("SHMKIT_SPAWN_FUNC"); got != "" {
		return fmt.Errorf("protocol variable leaked to the function: %q", got)
	}
	if c.Name() != "TestArgsEnvSegments" {
		return fmt.Errorf("name %q", c.Name())
	}
	for i, seg := range c.Segments() {
		b, err := shm.OpenBytes(seg, "box")
		if err != nil {
			return err
		}
		if got := string(bytes.TrimRight(b[:16], "\x00")); got != fmt.Sprintf("to child %d", i) {
			return fmt.Errorf("segment %d holds %q", i, got)
		}
		copy(b[16:], fmt.Sprintf("from child %d", i))
	}
	if n := len(c.Files()); n != 1 {
		return fmt.Errorf("%d files, want 1", n)
	}
	fmt.Fprint(c.Files()[0], "through the inherited pipe")
	c.Files()[0].Close()
	fmt.Println("child stdout line")
	fmt.Fprintln(os.Stderr, "child stderr line")
	return nil
})

func TestArgsEnvSegments(t *testing.T) {
	var segs []*shm.Segment
	for i := 0; i < 3; i++ {
		seg := testutil.Segment(t, 1<<16)
		b, err := shm.NewBytes(seg, "box", 64)
		if err != nil {
			t.Fatal(err)
		}
		copy(b, fmt.Sprintf("to child %d", i))
		segs = append(segs, seg)
	}
	var stdout, stderr bytes.Buffer
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	p, err := childArgs.Start(context.Background(), spawn.Options{
		Segments: segs,
		Files:    []*os.File{pw},
		Args:     []string{"one", "two words", ""},
		Env:      []string{"SPAWN_TEST_VAR=forty-two"},
		Stdout:   &stdout,
		Stderr:   &stderr,
	})
	if err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(pr); err != nil || string(got) != "through the inherited pipe" {
		t.Errorf("pipe carried %q, %v", got, err)
	}
	for i, seg := range segs {
		b, _ := shm.OpenBytes(seg, "box")
		if got, want := string(bytes.TrimRight(b[16:32], "\x00")), fmt.Sprintf("from child %d", i); got != want {
			t.Errorf("segment %d: child wrote %q, want %q", i, got, want)
		}
	}
	prefix := fmt.Sprintf("[TestArgsEnvSegments %d] ", p.Pid())
	if stdout.String() != prefix+"child stdout line\n" || stderr.String() != prefix+"child stderr line\n" {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}

// childUnknown is registered in the parent only: a child cannot find it.
var childUnknown = func() *spawn.Func {
	if _, child := os.LookupEnv("SHMKIT_SPAWN_FUNC"); child {
		return nil
	}
	return spawn.Register("TestUnknownFunction", func(ctx context.Context, c *spawn.Child) error { return nil })
}()

func TestUnknownFunction(t *testing.T) {
	_, err := childUnknown.Start(context.Background(), spawn.Options{})
	if !errors.Is(err, spawn.ErrStart) || !strings.Contains(err.Error(), `no function registered as "TestUnknownFunction"`) {
		t.Fatalf("Start = %v, want ErrStart naming the missing function", err)
	}
}

// Parent death: a middle process starts a grandchild, publishes the
// grandchild's identity, and is killed with SIGKILL.

var childMiddle = spawn.Register("TestParentDeath.middle", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	b, err := shm.OpenBytes(seg, "ids")
	if err != nil {
		return err
	}
	outlive := c.Args()[0] == "outlive"
	g, err := childGrand.Start(ctx, spawn.Options{Segments: []*shm.Segment{seg}, Outlive: outlive})
	if err != nil {
		return err
	}
	id := proc.Make(g.Pid(), mustStart(g.Pid()))
	atomic.StoreUint64((*uint64)(ptr(b[0:8])), uint64(id))
	<-ctx.Done() // until killed
	return nil
})

// childGrand blocks; if its context ends (Outlive and the parent died), it
// records that in the segment and exits.
var childGrand = spawn.Register("TestParentDeath.grandchild", func(ctx context.Context, c *spawn.Child) error {
	b, err := shm.OpenBytes(c.Segments()[0], "ids")
	if err != nil {
		return err
	}
	<-ctx.Done()
	atomic.StoreUint32((*uint32)(ptr(b[8:12])), 1)
	return nil
})

func TestParentDeath(t *testing.T) {
	for _, outlive := range []bool{false, true} {
		t.Run(fmt.Sprintf("outlive=%v", outlive), func(t *testing.T) {
			seg := testutil.Segment(t, 1<<16)
			b, err := shm.NewBytes(seg, "ids", 64)
			if err != nil {
				t.Fatal(err)
			}
			arg := "die"
			if outlive {
				arg = "outlive"
			}
			mid, err := childMiddle.Start(context.Background(), spawn.Options{Segments: []*shm.Segment{seg}, Args: []string{arg}})
			if err != nil {
				t.Fatal(err)
			}
			idWord := (*uint64)(ptr(b[0:8]))
			testutil.WaitFor(t, testutil.Timeout, "the middle process to start the grandchild", func() bool {
				return atomic.LoadUint64(idWord) != 0
			})
			grand := proc.Identity(atomic.LoadUint64(idWord))
			if !proc.Alive(grand) {
				t.Fatal("grandchild not alive before its parent was killed")
			}
			if err := mid.Kill(); err != nil {
				t.Fatal(err)
			}
			mid.Wait()
			if !outlive {
				testutil.WaitFor(t, time.Second, "the grandchild to die with its parent", func() bool { return !proc.Alive(grand) })
				return
			}
			flag := (*uint32)(ptr(b[8:12]))
			testutil.WaitFor(t, testutil.Timeout, "the outliving grandchild to see its context cancelled", func() bool {
				return atomic.LoadUint32(flag) == 1
			})
			testutil.WaitFor(t, testutil.Timeout, "the outliving grandchild to exit by itself", func() bool { return !proc.Alive(grand) })
		})
	}
}

func mustStart(pid int) uint64 {
	s, err := proc.StartTime(pid)
	if err != nil {
		panic(err)
	}
	return s
}

func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }

func TestNoMain(t *testing.T) {
	restore := spawn.SetMainCalled(false)
	defer spawn.SetMainCalled(restore)
	if _, err := childOK.Start(context.Background(), spawn.Options{}); !errors.Is(err, spawn.ErrNoMain) {
		t.Fatalf("Start in a program that never called Main = %v, want ErrNoMain", err)
	}
}

//go:build linux

package proc_test

import (
	"context"
	"os"
	"testing"

	"github.com/shmkit/shmkit/internal/proc"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/spawn"
)

func TestMain(m *testing.M) { testutil.Main(m) }

var childWait = spawn.Register("TestAlive", func(ctx context.Context, c *spawn.Child) error {
	<-ctx.Done()
	return nil
})

func TestAlive(t *testing.T) {
	self := proc.Self()
	if self.Pid() != os.Getpid() || self.Start() == 0 {
		t.Fatalf("Self = pid %d start %d", self.Pid(), self.Start())
	}
	if !proc.Alive(self) {
		t.Fatal("this process is not alive")
	}
	if proc.Alive(0) {
		t.Fatal("the zero identity is alive")
	}
	// Same pid, another start time: a process that died and whose pid was
	// reused.
	if proc.Alive(proc.Make(os.Getpid(), uint64(self.Start())+1)) {
		t.Fatal("an identity with this pid and another start time is alive")
	}
	p, err := childWait.Start(context.Background(), spawn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start, err := proc.StartTime(p.Pid())
	if err != nil {
		t.Fatal(err)
	}
	child := proc.Make(p.Pid(), start)
	if !proc.Alive(child) {
		t.Fatal("running child is not alive")
	}
	p.Kill()
	p.Wait()
	if proc.Alive(child) {
		t.Fatal("killed and reaped child is alive")
	}
}

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		in    string
		start uint64
		state byte
		ok    bool
	}{
		{"42 (go) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 0 0", 12345, 'S', true},
		{"42 (a) b) (c) Z 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 777 0 0", 777, 'Z', true},
		{"42 (go) S 1 2 3", 0, 0, false},
		{"42 go S 1", 0, 0, false},
		{"42 (go) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 x 0", 0, 0, false},
		{"", 0, 0, false},
	} {
		start, state, err := proc.ParseStat([]byte(tc.in))
		if (err == nil) != tc.ok || start != tc.start || state != tc.state {
			t.Errorf("ParseStat(%q) = %d, %q, %v; want %d, %q, ok=%v", tc.in, start, state, err, tc.start, tc.state, tc.ok)
		}
	}
}

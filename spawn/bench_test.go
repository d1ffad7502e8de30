//go:build linux

package spawn_test

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/spawn"
)

var benchNop = spawn.Register("benchStartNop", func(ctx context.Context, c *spawn.Child) error { return nil })

// BenchmarkStart measures starting a child and waiting for it to exit:
// spawn's Start (re-exec, handshake, function, exit status) beside a plain
// os/exec of the same binary that exits as soon as it starts.
func BenchmarkStart(b *testing.B) {
	b.Run("mech=spawn", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			p, err := benchNop.Start(context.Background(), spawn.Options{})
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("mech=exec", func(b *testing.B) {
		env := append(os.Environ(), testutil.ExitAtOnceEnv+"=1")
		for i := 0; i < b.N; i++ {
			cmd := exec.Command("/proc/self/exe")
			cmd.Env = env
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

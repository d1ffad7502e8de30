// Logging sends log records from child processes to the parent's logger:
// Python's QueueHandler in the children and a QueueListener in the parent,
// in one field. The records keep their levels and attributes, and arrive
// with the child's name and pid.
//
//	go run ./docs/examples/logging
//
// Unordered output:
//
//	level=INFO msg="starting work" job=1 child=job pid=<pid>
//	level=WARN msg="slow step" job=1 step=parse child=job pid=<pid>
//	level=INFO msg="starting work" job=2 child=job pid=<pid>
//	level=WARN msg="slow step" job=2 step=parse child=job pid=<pid>
package main

import (
	"context"
	"log"
	"log/slog"
	"os"

	"github.com/shmkit/shmkit/spawn"
)

// job logs through its child logger; Debug records are dropped in the
// child, since the parent's handler does not want them.
var job = spawn.Register("job", func(ctx context.Context, c *spawn.Child) error {
	logger := c.Logger().With("job", c.Args()[0])
	logger.Info("starting work")
	logger.Debug("details nobody asked for")
	logger.Warn("slow step", "step", "parse")
	return nil
})

func main() {
	spawn.Main()

	// The parent's handler: text on stdout, without times so that the
	// output is the same on every run.
	handler := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})
	logger := slog.New(handler)

	var procs []*spawn.Process
	for _, id := range []string{"1", "2"} {
		p, err := job.Start(context.Background(), spawn.Options{Args: []string{id}, Logger: logger})
		if err != nil {
			log.Fatal(err)
		}
		procs = append(procs, p)
	}
	for _, p := range procs {
		if err := p.Wait(); err != nil { // all of a child's records are handled by now
			log.Fatal(err)
		}
	}
}

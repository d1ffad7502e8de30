//go:build linux

package spawn_test

import (
	"context"
	"sync"
	"testing"

	"github.com/shmkit/shmkit/internal/ipcbench"
	"github.com/shmkit/shmkit/spawn"
)

var benchIdentity = spawn.RegisterTask("benchIdentity", func(ctx context.Context, x int) (int, error) { return x + 1, nil })

// BenchmarkPoolMap: the per-input overhead of Map over 100 000 trivial
// inputs with 2 workers (mech=pool; automatic chunks), beside a pool of 2
// goroutines fed by a channel in this process (mech=goroutines), whose
// work is chunked the same way.
func BenchmarkPoolMap(b *testing.B) {
	const n = 100_000
	in := ints(n)
	b.Run("mech=pool", func(b *testing.B) {
		p, err := spawn.NewPool(context.Background(), spawn.PoolOptions{Workers: 2})
		if err != nil {
			b.Fatal(err)
		}
		defer func() { p.Close(); p.Wait() }()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := benchIdentity.Map(context.Background(), p, in); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/task")
	})
	b.Run("mech=goroutines", func(b *testing.B) {
		const chunk = n / 8 // four chunks per worker, as the pool picks
		for i := 0; i < b.N; i++ {
			out := make([]int, n)
			jobs := make(chan int)
			var wg sync.WaitGroup
			for w := 0; w < 2; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for start := range jobs {
						for k := start; k < min(start+chunk, n); k++ {
							out[k] = in[k] + 1
						}
					}
				}()
			}
			for start := 0; start < n; start += chunk {
				jobs <- start
			}
			close(jobs)
			wg.Wait()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/task")
	})
}

// submitPinger makes one Submit round trip per Ping.
type submitPinger struct{ p *spawn.Pool }

func (s submitPinger) Ping() error {
	f, err := benchIdentity.Submit(context.Background(), s.p, 1)
	if err != nil {
		return err
	}
	_, err = f.Wait(context.Background())
	return err
}

func (s submitPinger) Close() error { s.p.Close(); return s.p.Wait() }

// BenchmarkPoolSubmit: the round trip of one tiny task through Submit and
// Future.Wait, with 2 workers.
func BenchmarkPoolSubmit(b *testing.B) {
	p, err := spawn.NewPool(context.Background(), spawn.PoolOptions{Workers: 2})
	if err != nil {
		b.Fatal(err)
	}
	s := submitPinger{p}
	defer s.Close()
	ipcbench.RoundTrip(b, s)
}

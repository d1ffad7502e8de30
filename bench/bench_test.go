//go:build linux

package main

import (
	"flag"
	"fmt"
	"testing"

	"github.com/shmkit/shmkit/internal/ipcbench"
)

// The tool's cases as Go benchmarks, for benchstat:
//
//	go test -run '^$' -bench . -count 10 ./bench > new.txt
//	benchstat old.txt new.txt
//
// Names are BenchmarkRoundTrip/mech=NAME/size=BYTES and
// BenchmarkStream/mech=NAME/size=BYTES; round trips report ns/op (one round
// trip), p50-ns, p99-ns and p99.9-ns, streams ns/op (per message), msgs/s
// and MB/s. The
// same mechanisms and loops as the tool's, from internal/ipcbench.

var (
	benchPin   = flag.String("pin", "", "pin the sides as the tool's -cpu does (`0,1` or 0)")
	benchSizes = flag.String("sizes", "0,8,64,4K,64K,1M", "message sizes, as the tool's -sizes")
)

func BenchmarkRoundTrip(b *testing.B) { benchAll(b, ipcbench.PatternRoundTrip) }

func BenchmarkStream(b *testing.B) { benchAll(b, ipcbench.PatternStream) }

func benchAll(b *testing.B, p ipcbench.Pattern) {
	cpus, err := parseCPUs(*benchPin)
	if err != nil {
		b.Fatal(err)
	}
	sizes, err := parseSizes(*benchSizes)
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range ipcbench.Mechs() {
		for _, size := range sizes {
			if !m.Supports(p, size) {
				continue
			}
			b.Run(fmt.Sprintf("mech=%s/size=%d", m.Name, size), func(b *testing.B) {
				ipcbench.Bench(b, m, p, size, ipcbench.Options{CPUs: cpus})
			})
		}
	}
}

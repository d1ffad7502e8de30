package prefetch

import (
	"os"
	"runtime"
	"strings"
	"testing"
)

// TestEnabled: on Linux/amd64, Enabled agrees with the kernel's reading of
// the same CPUID bit ("3dnowprefetch" among the flags in /proc/cpuinfo).
func TestEnabled(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		if Enabled {
			t.Fatalf("Enabled on %s/%s, where Write is not implemented", runtime.GOOS, runtime.GOARCH)
		}
		t.Skip("Write prefetches only on amd64")
	}
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skip(err)
	}
	var flags []string
	for _, line := range strings.Split(string(info), "\n") {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "flags" {
			flags = strings.Fields(value)
			break
		}
	}
	if flags == nil {
		t.Skip("no flags line in /proc/cpuinfo")
	}
	want := false
	for _, f := range flags {
		want = want || f == "3dnowprefetch"
	}
	if Enabled != want {
		t.Fatalf("Enabled = %v; /proc/cpuinfo lists 3dnowprefetch: %v", Enabled, want)
	}
}

// TestWrite: prefetching changes nothing in memory, at any offset in a
// line and at the ends of a buffer.
func TestWrite(t *testing.T) {
	buf := make([]uint64, 64)
	for i := range buf {
		buf[i] = uint64(i) * 0x9E3779B97F4A7C15
	}
	for i := range buf {
		if Enabled {
			Write(&buf[i])
		}
	}
	for i := range buf {
		if want := uint64(i) * 0x9E3779B97F4A7C15; buf[i] != want {
			t.Fatalf("word %d = %#x after Write, want %#x", i, buf[i], want)
		}
	}
}
